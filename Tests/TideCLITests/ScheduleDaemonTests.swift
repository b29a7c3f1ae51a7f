// ScheduleDaemonTests.swift: end-to-end tests of schedules (SPEC §2, §5, §7) on the real
// `tide serve`: instants fired on time and once, restarts and catch-up, overlap policies,
// reloads, next starts in flows.list, schedule.next, schedule load errors, and jitter.
//
// Every fact is read back from the run history (runs.list, run.get, run.logs) of a daemon on a
// scratch home; waits are conditions with deadlines. The flows fire every second (six fields,
// a leading seconds field), so each test takes a few seconds of wall time.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("schedules in the daemon", .serialized, .timeLimit(.minutes(2)))
struct ScheduleDaemonTests {
    typealias S = ScheduleE2E
    typealias L = Lifecycle

    // MARK: - 1. On time, once

    @Test("an every-second schedule fires each whole second once, on time, with trigger 'schedule'")
    func everySecondFiresOnTime() async throws {
        let launched = Date().timeIntervalSince1970
        // overlap = allow: a run slowed by a loaded machine must not make the next instant skip
        try await withDaemon(files: ["flows/tick.lua": S.flow("tick", schedule: "*/1 * * * * *", fields: #"overlap = "allow","#)]) { d in
            try await S.waitForRuns(d, "tick", count: 4, timeout: .seconds(10))
            let runs = try await S.history(d, flow: "tick").filter { $0.status == "succeeded" }
            try #require(runs.count >= 4, "\(runs)")
            for run in runs {
                #expect(run.trigger == "schedule", "\(run)")
                #expect(run.resultTrigger == "schedule", "ctx.trigger: \(run)")
                let text = try #require(run.scheduledText, "no scheduled_at: \(run)")
                #expect(S.isWholeSecond(text), "scheduled_at is not a whole second with an offset: \(run)")
                let instant = try #require(run.scheduledAt, "unparsable scheduled_at: \(run)")
                // a new schedule counts from when it is loaded: nothing before the daemon started fires
                #expect(instant > launched, "an instant from before the daemon started fired: \(run)")
                // after the instant, and close to it (precision is the benchmark's business)
                #expect(run.queuedAt >= instant && run.queuedAt - instant < 1, "queued \(run.queuedAt - instant) s after its instant: \(run)")
                let started = try #require(run.startedAt)
                #expect(started >= instant && started - instant < 1, "started \(started - instant) s after its instant: \(run)")
            }
            // each instant once, in order, none left out
            let instants = runs.compactMap(\.scheduledAt).sorted()
            #expect(Set(instants).count == instants.count, "an instant fired twice: \(runs)")
            #expect(zip(instants, instants.dropFirst()).allSatisfy { $1 - $0 == 1 },
                    "consecutive instants are not one second apart: \(instants)")

            // `tide runs --json` shows the same runs
            let cli = try await L.json(d, ["runs", "--flow", "tick", "--limit", "100"])
            let cliIDs = Set(cli["runs"]?.array?.compactMap { $0["run_id"]?.string } ?? [])
            #expect(Set(runs.map(\.id)).isSubset(of: cliIDs), "tide runs --json: \(cli)")
            #expect(cli["runs"]?.array?.allSatisfy { $0["trigger"]?.string == "schedule" } == true, "\(cli)")
        }
    }

    // MARK: - 2. Restarts

    @Test("a restart never fires an instant twice; catchup all / none / latest / a window decide what the downtime gets")
    func restartAndCatchup() async throws {
        let every = "* * * * * *"
        let files = [
            "flows/none.lua": S.flow("none", schedule: every),
            "flows/latest.lua": S.flow("latest", schedule: every, fields: #"catchup = "latest","#),
            // overlap = allow keeps the catch-up policy apart from the overlap policy (see the next test)
            "flows/all.lua": S.flow("all", schedule: every, fields: #"catchup = "all", overlap = "allow","#),
            "flows/windowed.lua": S.flow("windowed", schedule: every, fields: #"catchup = "all", catchup_window = "2s", overlap = "allow","#),
        ]
        let names = ["none", "latest", "all", "windowed"]
        try await L.withHome(files: files) { home in
            let d1 = try await home.start()
            for name in names { try await S.waitForRuns(d1, name, count: 3, timeout: .seconds(10)) }
            #expect(await d1.stop(signal: SIGTERM) == 0, "log:\n\(d1.log.suffix(3000))")
            let down = Date().timeIntervalSince1970

            // the downtime: three whole instants pass with no daemon
            try await Task.sleep(for: .seconds(3))
            let relaunched = Date().timeIntervalSince1970
            let d2 = try await home.start()
            for name in names {
                try await S.waitForRuns(d2, name, count: 3, timeout: .seconds(10)) { $0.queuedAt > relaunched && $0.trigger == "schedule" }
            }
            let all = try await S.history(d2)

            for name in names {
                // (the newest run may still be running: its ctx is not known yet)
                let runs = all.filter { $0.flow == name && $0.isFinished }
                let before = runs.filter { $0.queuedAt < down }
                let after = runs.filter { $0.queuedAt > relaunched }
                #expect(before.count + after.count == runs.count, "\(name): a run queued while no daemon ran: \(runs)")
                #expect(runs.allSatisfy { $0.status == "succeeded" }, "\(name): \(runs)")
                #expect(before.allSatisfy { $0.trigger == "schedule" }, "\(name): \(before)")
                let instants = runs.compactMap(\.scheduledAt)
                try #require(instants.count == runs.count, "\(name): runs without scheduled_at: \(runs)")
                #expect(Set(instants).count == instants.count, "\(name): an instant fired twice across the restart: \(runs.sorted { $0.scheduledAt! < $1.scheduledAt! })")
                for run in runs where run.resultTrigger != nil {
                    #expect(run.resultTrigger == run.trigger, "\(name): ctx.trigger differs from the history: \(run)")
                }

                // the instants of the downtime: after the last one the first daemon fired, before
                // the first one the second fired on time
                let lastBefore = try #require(before.compactMap(\.scheduledAt).max(), "\(name): \(runs)")
                let firstOnTime = try #require(after.filter { $0.trigger == "schedule" }.compactMap(\.scheduledAt).min(), "\(name): \(runs)")
                let missed = Set(stride(from: lastBefore + 1, to: firstOnTime, by: 1))
                #expect(missed.count >= 2, "\(name): precondition: the downtime spans instants (\(lastBefore) → \(firstOnTime))")
                let caughtUp = after.filter { $0.trigger == "catchup" }
                let caughtUpInstants = Set(caughtUp.compactMap(\.scheduledAt))

                switch name {
                case "none", "latest":
                    // latest: the newest missed instant fired on time (it is under 60 s old), so nothing is made up
                    #expect(caughtUp.isEmpty, "\(name): made up missed starts: \(caughtUp)")
                case "all":
                    #expect(caughtUpInstants == missed && caughtUp.count == missed.count,
                            "\(name): every instant of the downtime once: made up \(S.clock(caughtUpInstants)), missed \(S.clock(missed))")
                    let sorted = instants.sorted()
                    #expect(zip(sorted, sorted.dropFirst()).allSatisfy { $1 - $0 == 1 }, "\(name): a gap in the instants: \(S.clock(Set(sorted)))")
                case "windowed":
                    #expect(caughtUpInstants.isSubset(of: missed), "windowed: \(caughtUp)")
                    #expect(!caughtUpInstants.isEmpty, "windowed: nothing within the 2 s window was made up (missed \(S.clock(missed)))")
                    #expect(caughtUpInstants.count < missed.count, "windowed: instants older than the 2 s window were made up: \(S.clock(caughtUpInstants))")
                    for run in caughtUp {
                        // 2 s window, plus the time to start
                        #expect(run.queuedAt - run.scheduledAt! <= 2.5, "windowed: made up an instant older than its window: \(run)")
                    }
                default:
                    break
                }
            }
        }
    }

    // Starts of one flow due in one look (the made-up ones and the on-time one; two schedule
    // strings due at one instant) see each other: they run one after another, oldest first, and
    // one instant starts one run.

    @Test("catch-up starts obey overlap: with skip (the default) and queue every missed instant runs once, one at a time, oldest first")
    func catchupStartsObeyOverlap() async throws {
        let files = [
            "flows/skip.lua": S.flow("skip", schedule: "* * * * * *", fields: #"catchup = "all","#, body: "sleep(0.2)"),
            "flows/queue.lua": S.flow("queue", schedule: "* * * * * *", fields: #"catchup = "all", overlap = "queue","#, body: "sleep(0.2)"),
        ]
        try await L.withHome(files: files) { home in
            let d1 = try await home.start()
            for name in ["skip", "queue"] { try await S.waitForRuns(d1, name, count: 2, timeout: .seconds(10)) }
            #expect(await d1.stop(signal: SIGTERM) == 0)
            let down = Date().timeIntervalSince1970
            try await Task.sleep(for: .seconds(3))
            let relaunched = Date().timeIntervalSince1970
            let d2 = try await home.start()
            for name in ["skip", "queue"] {
                try await S.waitForRuns(d2, name, count: 2, timeout: .seconds(10)) { $0.queuedAt > relaunched && $0.trigger == "schedule" && $0.status == "succeeded" }
            }
            let log = S.scheduleLines(d2.log)
            for name in ["skip", "queue"] {
                let runs = try await S.history(d2, flow: name).filter { $0.status == "succeeded" }
                let instants = runs.compactMap(\.scheduledAt).sorted()
                #expect(Set(instants).count == instants.count, "\(name): an instant fired twice: \(runs)")
                let lastBefore = try #require(runs.filter { $0.queuedAt < down }.compactMap(\.scheduledAt).max())
                // every instant missed while the daemon was down runs; with skip, an on-time instant
                // that comes while the made-up runs still go is skipped, as overlap = "skip" says
                let through = name == "skip" ? relaunched.rounded(.down) : instants.last!
                let expected = Set(stride(from: lastBefore + 1, through: through, by: 1))
                let byStart = runs.filter { $0.queuedAt > relaunched }.sorted { $0.startedAt! < $1.startedAt! }
                #expect(Set(instants).isSuperset(of: expected),
                        "\(name): instants \(S.clock(expected.subtracting(instants))) never ran; made up: \(runs.filter { $0.trigger == "catchup" }); log:\n\(log)")
                S.expectNoOverlap(runs)
                let order = byStart.map { $0.scheduledAt! }
                #expect(order == order.sorted(), "\(name): the made-up runs did not run oldest first: \(byStart)")
            }
        }
    }

    @Test("two schedules of one flow due at the same instant start one run for it, and runs never overlap")
    func coincidingSchedulesObeyOverlap() async throws {
        let text = { (name: String, overlap: String) in
            S.flow(name, schedules: ["* * * * * *", "*/2 * * * * *"], fields: "overlap = \"\(overlap)\",", body: "sleep(0.3)")
        }
        try await withDaemon(files: ["flows/skip2.lua": text("skip2", "skip"), "flows/queue2.lua": text("queue2", "queue")],
                             arguments: ["--grace-period", "200ms"]) { d in
            // two even seconds: each has two starts due
            try await S.waitForRuns(d, "skip2", count: 4, timeout: .seconds(10)) { $0.status == "succeeded" }
            try await S.waitForRuns(d, "queue2", count: 5, timeout: .seconds(10)) { $0.status == "succeeded" }
            let skip = try await S.history(d, flow: "skip2").filter { $0.status == "succeeded" }
            let queue = try await S.history(d, flow: "queue2").filter { $0.status == "succeeded" }
            let skipInstants = skip.compactMap(\.scheduledAt)
            let queueInstants = queue.compactMap(\.scheduledAt)
            // even and odd instants both run, each once
            #expect(Set(queueInstants).contains { Int($0) % 2 == 0 } && Set(queueInstants).contains { Int($0) % 2 == 1 }, "\(queue)")
            #expect(Set(skipInstants).count == skipInstants.count, "skip: two runs for one instant: \(skip)")
            #expect(Set(queueInstants).count == queueInstants.count, "queue: two runs for one instant: \(queue)")
            S.expectNoOverlap(skip)
            S.expectNoOverlap(queue)
        }
    }

    @Test("kill -9 right after a scheduled start: the next daemon fires no instant a second time")
    func killNineNeverRepeats() async throws {
        try await L.withHome(files: ["flows/k.lua": S.flow("k", schedule: "* * * * * *")]) { home in
            let d1 = try await home.start()
            try await S.waitForRuns(d1, "k", count: 2, timeout: .seconds(10))
            // kill just after a fresh start is recorded: the window in which a watermark written
            // apart from its run would be lost
            let seen = try await S.history(d1, flow: "k", details: false).count
            try #require(await S.waitFor(.seconds(5)) { try await S.history(d1, flow: "k", details: false).count > seen })
            await d1.stop(signal: SIGKILL)
            let relaunched = Date().timeIntervalSince1970
            let d2 = try await home.start()
            try await S.waitForRuns(d2, "k", count: 3, timeout: .seconds(10)) { $0.queuedAt > relaunched }
            let runs = try await S.history(d2, flow: "k")
            let known = runs.filter { $0.scheduledAt != nil }
            #expect(runs.allSatisfy { $0.status != "succeeded" || $0.scheduledAt != nil }, "\(runs)")
            let instants = known.compactMap(\.scheduledAt)
            #expect(Set(instants).count == instants.count,
                    "an instant fired twice across kill -9: \(known.sorted { $0.scheduledAt! < $1.scheduledAt! })")
            #expect(runs.filter(\.isFinished).allSatisfy { $0.status == "succeeded" || $0.status == "interrupted" }, "\(runs)")
        }
    }

    // MARK: - 3. Overlap

    @Test("overlap skip: a slow run makes the instants during it skip (logged); runs never overlap")
    func overlapSkip() async throws {
        try await withDaemon(files: ["flows/slow.lua": S.flow("slow", schedule: "* * * * * *", body: "sleep(2.5)")],
                             arguments: ["--grace-period", "200ms"]) { d in
            try await S.waitForRuns(d, "slow", count: 2, timeout: .seconds(10)) { $0.status == "succeeded" }
            let runs = try await S.history(d, flow: "slow")
            let done = runs.filter { $0.status == "succeeded" }.sorted { $0.scheduledAt! < $1.scheduledAt! }
            S.expectNoOverlap(runs)
            // while a run is active the instants are dropped, not queued
            #expect(runs.allSatisfy { $0.status != "queued" }, "\(runs)")
            let instants = runs.compactMap(\.scheduledAt).sorted()
            let spanned = Int(instants.last! - instants.first!) + 1
            #expect(instants.count < spanned, "\(instants.count) runs for \(spanned) instants: nothing was skipped")
            for (a, b) in zip(done, done.dropFirst()) {
                // the instants between two runs fell inside the first: none after it ended was dropped
                #expect(b.scheduledAt! - a.finishedAt! <= 1.25, "an instant after a run ended was skipped: \(a) → \(b)")
                #expect(b.scheduledAt! - a.scheduledAt! >= 2, "an instant during a run was not skipped: \(a) → \(b)")
            }
            #expect(d.log.contains("scheduled start skipped"), "the skip is not logged:\n\(d.log.suffix(3000))")
        }
    }

    @Test("overlap queue: runs wait their turn, one at a time, and no instant is dropped")
    func overlapQueue() async throws {
        try await withDaemon(files: ["flows/q.lua": S.flow("q", schedule: "* * * * * *", fields: #"overlap = "queue","#, body: "sleep(2.5)")],
                             arguments: ["--grace-period", "200ms"]) { d in
            // one instant a second in, one run every 2.5 s out: after two runs, three wait
            try await S.waitForRuns(d, "q", count: 2, timeout: .seconds(10)) { $0.status == "succeeded" }
            let before = Date().timeIntervalSince1970
            let runs = try await S.history(d, flow: "q")
            let after = Date().timeIntervalSince1970
            S.expectNoOverlap(runs)
            let done = runs.filter { $0.status == "succeeded" }.sorted { $0.startedAt! < $1.startedAt! }
            let doneInstants = done.compactMap(\.scheduledAt)
            // first in, first out, one second apart: nothing dropped while they waited
            #expect(doneInstants == doneInstants.sorted() && zip(doneInstants, doneInstants.dropFirst()).allSatisfy { $1 - $0 == 1 },
                    "the finished runs are not consecutive instants in order: \(done)")
            let queued = runs.filter { $0.status == "queued" }
            #expect(queued.count >= 2, "the queue did not grow: \(runs)")
            #expect(queued.allSatisfy { $0.trigger == "schedule" })
            // one run per instant from the first to now (the newest may still be on its way)
            let first = try #require(doneInstants.first)
            let lower = Int(before.rounded(.down) - 1 - first) + 1
            let upper = Int(after.rounded(.down) - first) + 1
            #expect(runs.count >= lower && runs.count <= upper, "\(runs.count) runs for \(lower)...\(upper) instants: \(runs)")
            let known = runs.compactMap(\.scheduledAt)
            #expect(Set(known).count == known.count, "an instant queued twice: \(runs)")
            #expect(!d.log.contains("scheduled start skipped"), "a start was skipped:\n\(S.scheduleLines(d.log))")
        }
    }

    @Test("overlap allow: runs of the flow run alongside each other and every instant starts")
    func overlapAllow() async throws {
        try await withDaemon(files: ["flows/a.lua": S.flow("a", schedule: "* * * * * *", fields: #"overlap = "allow","#, body: "sleep(2.5)")],
                             arguments: ["--grace-period", "200ms"]) { d in
            try await S.waitForRuns(d, "a", count: 2, timeout: .seconds(10)) { $0.status == "succeeded" }
            let runs = try await S.history(d, flow: "a")
            #expect(runs.allSatisfy { $0.status == "succeeded" || $0.status == "running" }, "\(runs)")
            let byStart = runs.filter { $0.startedAt != nil }.sorted { $0.startedAt! < $1.startedAt! }
            // the second run started before the first finished
            let overlapping = zip(byStart, byStart.dropFirst()).contains { a, b in
                b.startedAt! < (a.finishedAt ?? .infinity)
            }
            #expect(overlapping, "no two runs overlapped: \(runs)")
            #expect(runs.filter { $0.status == "running" }.count >= 2, "fewer than two runs at once: \(runs)")
            let instants = runs.compactMap(\.scheduledAt).sorted()
            #expect(Set(instants).count == instants.count)
            #expect(zip(instants, instants.dropFirst()).allSatisfy { $1 - $0 == 1 }, "an instant was dropped: \(S.clock(Set(instants)))")
            for run in runs where run.startedAt != nil && run.scheduledAt != nil {
                #expect(run.startedAt! - run.scheduledAt! < 1, "a run waited for another: \(run)")
            }
        }
    }

    @Test("overlap replace: the active run is cancelled (saying it was replaced) before the next starts")
    func overlapReplace() async throws {
        try await withDaemon(files: ["flows/r.lua": S.flow("r", schedule: "* * * * * *", fields: #"overlap = "replace","#, body: "sleep(30)")],
                             arguments: ["--grace-period", "200ms"]) { d in
            // runs that started and were cut short (a start that waited and was dropped has no started_at)
            try await S.waitForRuns(d, "r", count: 3, timeout: .seconds(10)) { $0.status == "cancelled" && $0.startedAt != nil }
            let runs = try await S.history(d, flow: "r").sorted { $0.queuedAt < $1.queuedAt }
            let cancelled = runs.filter { $0.status == "cancelled" }
            #expect(runs.first?.status == "cancelled" && runs.first?.startedAt != nil, "the first run was not replaced: \(runs)")
            for run in cancelled where run.startedAt != nil {
                // it sleeps 30 s: it ended because the next instant replaced it
                #expect(run.finishedAt! - run.startedAt! < 2, "a replaced run went on after the next instant: \(run)")
            }
            #expect(runs.allSatisfy { $0.status == "cancelled" || $0.status == "running" || $0.status == "queued" }, "\(runs)")
            #expect(runs.filter { $0.status == "running" }.count <= 1, "two runs at once: \(runs)")
            S.expectNoOverlap(runs)
            for run in cancelled {
                let error = run.error ?? ""
                #expect(error.contains("replace"), "the cancelled run does not say it was replaced: \(run)")
                // it names the start that replaced it
                let next = runs.first { ($0.scheduledAt ?? 0) > (run.scheduledAt ?? .infinity) }
                if let text = next?.scheduledText {
                    #expect(error.contains(text), "the error does not name the replacing start \(text): \(run)")
                }
            }
            let instants = runs.compactMap(\.scheduledAt).sorted()
            #expect(Set(instants).count == instants.count, "\(runs)")
            #expect(zip(instants, instants.dropFirst()).allSatisfy { $1 - $0 == 1 }, "replace dropped an instant: \(S.clock(Set(instants)))")
        }
    }

    // MARK: - 4. Reload

    @Test("reload: a schedule added while serving starts firing (nothing older), an edit re-plans, a deletion stops it")
    func reloadReplans() async throws {
        try await L.withHome(files: ["flows/control.lua": S.flow("control", schedule: "* * * * * *")]) { home in
            let d = try await home.start()
            try await L.waitForWatcher(home, d)

            let written = Date().timeIntervalSince1970
            try home.overwrite("flows/late.lua", S.flow("late", schedule: "* * * * * *"))
            try await S.waitForRuns(d, "late", count: 2, timeout: .seconds(5)) { $0.isFinished }
            let first = try await S.history(d, flow: "late").filter(\.isFinished)
            #expect(first.allSatisfy { ($0.scheduledAt ?? 0) > written }, "an instant from before the file was written fired: \(first)")

            // every second → every other second
            try home.overwrite("flows/late.lua", S.flow("late", schedule: "*/2 * * * * *"))
            try #require(await S.waitFor(.seconds(5)) { try await L.flow(d, "late")?["schedule"] == .array([.string("*/2 * * * * *")]) },
                         "the edit was not loaded; log:\n\(d.log.suffix(3000))")
            let edited = Date().timeIntervalSince1970
            try await S.waitForRuns(d, "late", count: 2, timeout: .seconds(6)) { $0.queuedAt > edited && $0.isFinished }
            let second = try await S.history(d, flow: "late").filter { $0.queuedAt > edited && $0.isFinished }
            #expect(second.allSatisfy { Int($0.scheduledAt ?? 1) % 2 == 0 }, "the old schedule still fires after the edit: \(second)")

            try FileManager.default.removeItem(atPath: home.dir.path + "/flows/late.lua")
            try #require(await S.waitFor(.seconds(5)) { try await L.flow(d, "late") == nil }, "the deletion was not loaded")
            let gone = Date().timeIntervalSince1970
            // absence takes time to see: watch a "*/2" instant or two go by
            let fired = await S.waitFor(.seconds(3)) { [gone] in
                try await S.history(d, flow: "late", details: false).contains { run in run.queuedAt > gone }
            }
            let late = try await S.history(d, flow: "late").filter { $0.queuedAt > gone }
            #expect(!fired, "a deleted flow's schedule still fires: \(late)")
            let control = try await S.history(d, flow: "control", details: false).filter { $0.queuedAt > gone }
            #expect(control.count >= 2, "precondition: the scheduler kept firing the other flow meanwhile: \(control)")
        }
    }

    // MARK: - 5. Next starts

    @Test("flows.list and tide flows --json: next_start in the future, in the schedule's zone; none without a schedule")
    func nextStartInFlowsList() async throws {
        let files = [
            "flows/plain.lua": #"flow { name = "plain", run = function() return 1 end }"#,
            "flows/tokyo.lua": #"flow { name = "tokyo", schedule = "0 9 * * *", timezone = "Asia/Tokyo", run = function() end }"#,
            "flows/twice.lua": #"flow { name = "twice", schedule = {"0 9 * * *", "0 21 * * *"}, timezone = "Asia/Tokyo", run = function() end }"#,
            // the TZ= prefix wins over the flow's timezone
            "flows/kolkata.lua": #"flow { name = "kolkata", schedule = "TZ=Asia/Kolkata 30 6 * * *", timezone = "America/New_York", run = function() end }"#,
            "flows/berlin.lua": #"flow { name = "berlin", schedule = "0 0 9 * * MON-FRI", timezone = "Europe/Berlin", run = function() end }"#,
            "flows/reboot.lua": #"flow { name = "reboot", schedule = "@reboot", run = function() end }"#,
        ]
        try await withDaemon(files: files) { d in
            let before = Date()
            let rpcList = try await L.rpc(d, "flows.list")
            let cliList = try await L.json(d, ["flows"])
            let after = Date()
            for list in [rpcList, cliList] {
                let flows = list["flows"]?.array ?? []
                func next(_ name: String) -> String? { flows.first { $0["name"]?.string == name }?["next_start"]?.string }
                #expect(flows.count == 6, "\(list)")
                #expect(next("plain") == nil, "an unscheduled flow has a next start: \(list)")
                #expect(next("reboot") == nil, "@reboot has a next start: \(list)")

                let cases: [(String, String, [DateComponents])] = [
                    ("tokyo", "Asia/Tokyo", [DateComponents(hour: 9, minute: 0, second: 0)]),
                    ("twice", "Asia/Tokyo", [DateComponents(hour: 9, minute: 0, second: 0), DateComponents(hour: 21, minute: 0, second: 0)]),
                    ("kolkata", "Asia/Kolkata", [DateComponents(hour: 6, minute: 30, second: 0)]),
                    ("berlin", "Europe/Berlin", (2...6).map { DateComponents(hour: 9, minute: 0, second: 0, weekday: $0) }),
                ]
                for (name, zone, matching) in cases {
                    let text = try #require(next(name), "\(name): no next_start: \(list)")
                    let instant = try #require(S.epoch(text), "\(name): not ISO 8601: \(text)")
                    #expect(instant > before.timeIntervalSince1970, "\(name): next_start \(text) is not in the future")
                    // the expected start, from Foundation's calendar (either side of the call)
                    let expected = [before, after].map { S.next(after: $0, in: zone, matching: matching) }
                    #expect(expected.contains(instant), "\(name): next_start \(text), expected \(expected.map { S.format($0, in: zone) })")
                    #expect(text.hasSuffix(S.offset(of: instant, in: zone)), "\(name): \(text) is not in \(zone)")
                }
                #expect(next("tokyo")?.hasSuffix("+09:00") == true, "\(list)")
                #expect(next("kolkata")?.hasSuffix("+05:30") == true, "\(list)")
            }
        }
    }

    // MARK: - 6. schedule.next

    @Test("schedule.next over the socket: next starts with offsets, DST rules, and -32602 for each bad parameter")
    func scheduleNext() async throws {
        try await withDaemon { d in
            let socket = d.socket
            let answers: [JSONResponse] = try await blocking {
                let c = try RawConnection(path: socket)
                var out: [JSONResponse] = []
                for params in ScheduleE2E.nextCalls {
                    out.append(JSONResponse(try c.request("schedule.next", params.value)))
                }
                return out
            }
            for (call, answer) in zip(S.nextCalls, answers) {
                if let starts = call.starts {
                    let result = try #require(answer["result"] as? [String: Any], "\(call.value): \(answer.object)")
                    #expect(result["starts"] as? [String] == starts, "\(call.value): \(result)")
                    #expect(result["expr"] as? String == call.value["expr"] as? String, "\(result)")
                    if let zone = call.zone { #expect(result["timezone"] as? String == zone, "\(result)") }
                } else {
                    let error = try #require(answer["error"] as? [String: Any], "\(call.value) was accepted: \(answer.object)")
                    #expect(error["code"] as? Int == -32602, "\(call.value): \(error)")
                    let message = error["message"] as? String ?? ""
                    for word in call.words {
                        #expect(message.contains(word), "\(call.value): the message does not name \(word): \(message)")
                    }
                }
            }
            // the daemon still answers on a fresh connection too
            let status = try await L.rpc(d, "daemon.status")
            #expect(status["pid"]?.number == Double(d.pid))
        }
    }

    // MARK: - 7. Bad schedules

    @Test("each bad schedule is a load error with file:line naming the field; the other flows keep firing")
    func badSchedulesAreLoadErrors() async throws {
        var files = ["flows/alive.lua": S.flow("alive", schedule: "* * * * * *")]
        for bad in S.badFlows { files["flows/\(bad.file).lua"] = bad.text }
        try await withDaemon(files: files) { d in
            let errors = try await L.fileErrors(d)
            for bad in S.badFlows {
                let file = "flows/\(bad.file).lua"
                let error = try #require(errors[file], "\(file) (\(bad.field)) was accepted; errors: \(errors)")
                #expect(error.contains("\(file):3:"), "no file:line in \(error)")
                for word in bad.words {
                    #expect(error.contains(word), "\(file): the error does not name \(word): \(error)")
                }
            }
            #expect(errors.count == S.badFlows.count, "\(errors)")
            let names = try await L.rpc(d, "flows.list")["flows"]?.array?.compactMap { $0["name"]?.string }
            #expect(names == ["alive"], "a flow with a bad schedule is served: \(names ?? [])")
            // `tide flows` shows them too
            let text = try await d.tide(["flows"])
            #expect(text.status == 0 && S.badFlows.allSatisfy { text.stdout.contains("flows/\($0.file).lua:3:") }, "\(text.combined)")
            // and the daemon keeps serving and firing
            try await S.waitForRuns(d, "alive", count: 2, timeout: .seconds(5))
            let run = try await d.tide(["run", "alive", "--json"])
            #expect(run.status == 0, "\(run.combined)")
        }
    }

    @Test("an edit that breaks a schedule keeps the old version firing; fixing it re-plans")
    func brokenEditKeepsOldSchedule() async throws {
        try await L.withHome(files: ["flows/keep.lua": S.flow("keep", schedule: "* * * * * *", version: "v1")]) { home in
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            try await S.waitForRuns(d, "keep", count: 1, timeout: .seconds(5))

            try home.overwrite("flows/keep.lua", S.flow("keep", schedule: "61 * * * * *", version: "v2"))
            try #require(await S.waitFor(.seconds(5)) { try await L.fileErrors(d)["flows/keep.lua"] != nil },
                         "the bad schedule was not reported; log:\n\(d.log.suffix(3000))")
            let broken = Date().timeIntervalSince1970
            let error = try await L.fileErrors(d)["flows/keep.lua"] ?? ""
            #expect(error.contains("flows/keep.lua:3:") && error.contains("schedule") && error.contains("61"), "\(error)")
            try await S.waitForRuns(d, "keep", count: 2, timeout: .seconds(5)) { $0.queuedAt > broken && $0.isFinished }
            let during = try await S.history(d, flow: "keep").filter { $0.queuedAt > broken && $0.isFinished }
            #expect(during.allSatisfy { $0.version == "v1" && $0.trigger == "schedule" }, "\(during)")
            let instants = during.compactMap(\.scheduledAt).sorted()
            #expect(zip(instants, instants.dropFirst()).allSatisfy { $1 - $0 == 1 }, "the old schedule did not keep firing: \(during)")

            try home.overwrite("flows/keep.lua", S.flow("keep", schedule: "*/2 * * * * *", version: "v3"))
            try #require(await S.waitFor(.seconds(5)) {
                let errors = try await L.fileErrors(d)
                let schedule = try await L.flow(d, "keep")?["schedule"]
                return errors.isEmpty && schedule == .array([.string("*/2 * * * * *")])
            }, "the fix was not loaded; log:\n\(d.log.suffix(3000))")
            let fixed = Date().timeIntervalSince1970
            try await S.waitForRuns(d, "keep", count: 2, timeout: .seconds(6)) { $0.queuedAt > fixed && $0.isFinished }
            let later = try await S.history(d, flow: "keep").filter { $0.queuedAt > fixed && $0.isFinished }
            #expect(later.allSatisfy { $0.version == "v3" && Int($0.scheduledAt ?? 1) % 2 == 0 }, "\(later)")
        }
    }

    // MARK: - 8. Jitter

    @Test("jitter delays each start by up to its amount; scheduled_at stays the instant")
    func jitterDelaysStarts() async throws {
        let fields = #"jitter = "1s", timezone = "Asia/Tokyo","#
        try await withDaemon(files: [
            "flows/j1.lua": S.flow("j1", schedule: "*/2 * * * * *", fields: fields),
            "flows/j2.lua": S.flow("j2", schedule: "*/2 * * * * *", fields: fields),
        ]) { d in
            try await S.waitForRuns(d, "j1", count: 3, timeout: .seconds(10))
            try await S.waitForRuns(d, "j2", count: 3, timeout: .seconds(10))
            let runs = try await S.history(d).filter { $0.status == "succeeded" }
            var delays: [Double] = []
            for run in runs {
                let text = try #require(run.scheduledText, "\(run)")
                #expect(S.isWholeSecond(text) && text.hasSuffix("+09:00"), "scheduled_at is not the whole instant in the flow's zone: \(run)")
                let instant = try #require(run.scheduledAt)
                #expect(Int(instant) % 2 == 0, "\(run)")
                #expect(run.trigger == "schedule", "\(run)")
                let delay = run.queuedAt - instant
                delays.append(delay)
                #expect(delay >= 0 && delay <= 1.5, "a start \(delay) s after its instant (jitter 1 s): \(run)")
            }
            #expect(delays.count >= 6)
            // the chance that six uniform draws from 0..<1 s all fall under 50 ms is 1.6e-8
            #expect(delays.contains { $0 >= 0.05 }, "no start was delayed: jitter ignored? \(delays)")
            let instants = runs.map { "\($0.flow) \($0.scheduledText ?? "")" }
            #expect(Set(instants).count == instants.count, "an instant fired twice: \(runs)")
        }
    }
}

/// Helpers for the schedule tests.
enum ScheduleE2E {
    /// A flow that records what its run saw: `log`s `scheduled_at` first (so runs that never
    /// finish have it too), runs `body`, returns `{trigger, scheduled_at, version}`.
    static func flow(_ name: String, schedule: String, fields: String = "", body: String = "", version: String = "v1") -> String {
        flow(name, lua: "\"\(schedule)\"", fields: fields, body: body, version: version)
    }

    /// The same with a list of schedule strings.
    static func flow(_ name: String, schedules: [String], fields: String = "", body: String = "", version: String = "v1") -> String {
        flow(name, lua: "{ " + schedules.map { "\"\($0)\"" }.joined(separator: ", ") + " }", fields: fields, body: body, version: version)
    }

    private static func flow(_ name: String, lua schedule: String, fields: String, body: String, version: String) -> String {
        """
        -- \(name): a scheduled test flow
        -- (the flow call is on line 3)
        flow { name = "\(name)", schedule = \(schedule), \(fields)
          run = function(ctx)
            log("scheduled_at=" .. tostring(ctx.scheduled_at))
            \(body)
            return { trigger = ctx.trigger, scheduled_at = ctx.scheduled_at, version = "\(version)" }
          end }

        """
    }

    /// One run as the history shows it, with what its `ctx` saw.
    struct Run: Sendable, CustomStringConvertible {
        var id: String
        var flow: String
        var status: String
        var trigger: String
        var queuedAt: Double
        var startedAt: Double?
        var finishedAt: Double?
        /// `scheduled_at` from the history, else from the run's result or its first log line.
        var scheduledText: String?
        var resultTrigger: String?
        var version: String?
        var error: String?

        var scheduledAt: Double? { scheduledText.flatMap(ScheduleE2E.epoch) }
        /// Neither queued nor running.
        var isFinished: Bool { status != "queued" && status != "running" }

        var description: String {
            func t(_ x: Double?) -> String { x.map { ScheduleE2E.clock($0) } ?? "-" }
            return "\(flow) \(id.suffix(6)) \(status) \(trigger) at=\(scheduledText.map { String($0.dropFirst(11)) } ?? "?") queued=\(t(queuedAt)) started=\(t(startedAt)) finished=\(t(finishedAt))\(error.map { " error=\($0)" } ?? "")"
        }
    }

    /// The runs of `flow` (or all), oldest first; with `details`, what each run's ctx saw.
    static func history(_ d: RunningDaemon, flow: String? = nil, details: Bool = true) async throws -> [Run] {
        let socket = d.socket
        return try await blocking {
            let c = try RawConnection(path: socket)
            var params: [String: Any] = ["limit": 1000]
            if let flow { params["flow"] = flow }
            let list = try value(c.request("runs.list", params))
            var runs: [Run] = []
            for r in list["runs"]?.array ?? [] {
                guard let id = r["run_id"]?.string, let queued = r["queued_at"]?.string.flatMap(epoch) else {
                    throw HarnessError("runs.list: a run without id or queued_at: \(r)")
                }
                var run = Run(
                    id: id, flow: r["flow"]?.string ?? "", status: r["status"]?.string ?? "", trigger: r["trigger"]?.string ?? "",
                    queuedAt: queued, startedAt: r["started_at"]?.string.flatMap(epoch), finishedAt: r["finished_at"]?.string.flatMap(epoch),
                    scheduledText: r["scheduled_at"]?.string, error: r["error"]?.string)
                if details && run.status != "queued" {
                    let report = try value(c.request("run.get", ["run_id": id]))
                    let result = report["result"]
                    run.resultTrigger = result?["trigger"]?.string
                    run.version = result?["version"]?.string
                    if let seen = result?["scheduled_at"]?.string {
                        if let recorded = run.scheduledText, recorded != seen {
                            throw HarnessError("run \(id): scheduled_at \(recorded) in the history, \(seen) in ctx")
                        }
                        run.scheduledText = seen
                    }
                    if run.scheduledText == nil {
                        let logs = try value(c.request("run.logs", ["run_id": id]))
                        let line = logs["lines"]?.array?.compactMap { $0["message"]?.string }.first { $0.hasPrefix("scheduled_at=") }
                        run.scheduledText = line.map { String($0.dropFirst("scheduled_at=".count)) }
                    }
                }
                runs.append(run)
            }
            return runs.sorted { $0.queuedAt < $1.queuedAt }
        }
    }

    /// Waits until `flow` has `count` runs matching `filter`; fails the test (with the history
    /// and the log) if that takes longer than `timeout`.
    static func waitForRuns(
        _ d: RunningDaemon, _ flow: String, count: Int, timeout: Duration,
        sourceLocation: SourceLocation = #_sourceLocation, where filter: @escaping @Sendable (Run) -> Bool = { _ in true }
    ) async throws {
        let reached = await waitFor(timeout) { try await history(d, flow: flow, details: false).filter(filter).count >= count }
        if !reached {
            let runs = (try? await history(d, flow: flow)) ?? []
            try #require(reached, "\(flow): fewer than \(count) runs within \(timeout): \(runs)\nlog:\n\(scheduleLines(d.log))",
                         sourceLocation: sourceLocation)
        }
    }

    /// Polls an async condition every 100 ms until it holds (errors count as false) or `timeout` passes.
    static func waitFor(_ timeout: Duration, _ condition: @escaping @Sendable () async throws -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if (try? await condition()) == true { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return (try? await condition()) == true
    }

    /// Runs that executed never overlap in time: each starts after the previous one finished.
    static func expectNoOverlap(_ runs: [Run], sourceLocation: SourceLocation = #_sourceLocation) {
        let started = runs.filter { $0.startedAt != nil }.sorted { $0.startedAt! < $1.startedAt! }
        for (a, b) in zip(started, started.dropFirst()) {
            #expect(a.finishedAt != nil && b.startedAt! >= a.finishedAt!, "two runs overlap: \(a) and \(b)", sourceLocation: sourceLocation)
        }
    }

    /// The lines of a daemon log about schedules, for failure messages.
    static func scheduleLines(_ log: String) -> String {
        log.split(separator: "\n").filter { $0.contains("schedule") || $0.contains("missed") }.suffix(60).joined(separator: "\n")
    }

    /// The `result` of a response, or its error thrown.
    static func value(_ response: [String: Any]) throws -> JSONValue {
        if let error = response["error"] { throw HarnessError("error response: \(error)") }
        let data = try JSONSerialization.data(withJSONObject: response["result"] ?? NSNull(), options: [.fragmentsAllowed])
        return try JSONValue.parse(String(decoding: data, as: UTF8.self))
    }

    // MARK: Time

    /// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)`; nil for anything else.
    static func epoch(_ text: String) -> Double? {
        let b = Array(text.utf8)
        func digits(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for c in b[at..<at + n] {
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 20, b[4] == 45, b[7] == 45, b[10] == 84, b[13] == 58, b[16] == 58,
              let year = digits(0, 4), let month = digits(5, 2), let day = digits(8, 2),
              let hour = digits(11, 2), let minute = digits(14, 2), let second = digits(17, 2) else { return nil }
        var i = 19
        var fraction = 0.0
        if b[i] == 46 {
            var scale = 0.1
            i += 1
            while i < b.count, b[i] >= 48 && b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        var offset = 0
        if i == b.count - 1 && b[i] == 90 {  // Z
            offset = 0
        } else if i == b.count - 6, b[i] == 43 || b[i] == 45, b[i + 3] == 58, let h = digits(i + 1, 2), let m = digits(i + 4, 2) {
            offset = (b[i] == 45 ? -1 : 1) * (h * 3600 + m * 60)
        } else {
            return nil
        }
        // days from the civil date (Howard Hinnant's algorithm)
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
        return Double(days * 86_400 + hour * 3600 + minute * 60 + second - offset) + fraction
    }

    /// True for `YYYY-MM-DDTHH:MM:SS±HH:MM` (or `Z`): a whole second, no fraction, with its offset.
    static func isWholeSecond(_ text: String) -> Bool {
        guard let t = epoch(text) else { return false }
        return t == t.rounded() && text.utf8.count >= 20 && Array(text.utf8)[19] != 46
    }

    /// `HH:MM:SS.mmm` of an instant in UTC, for messages.
    static func clock(_ t: Double) -> String {
        let s = Int(t.rounded(.down))
        let ms = Int(((t - t.rounded(.down)) * 1000).rounded())
        return String(format: "%02d:%02d:%02d.%03d", (s / 3600) % 24, (s / 60) % 60, s % 60, ms)
    }

    static func clock(_ instants: Set<Double>) -> String {
        "[" + instants.sorted().map { String(clock($0).prefix(8)) }.joined(separator: " ") + "]"
    }

    /// The next instant after `date` in `zone` matching any of `components`.
    static func next(after date: Date, in zone: String, matching components: [DateComponents]) -> Double {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: zone)!
        return components.compactMap {
            calendar.nextDate(after: date, matching: $0, matchingPolicy: .strict)?.timeIntervalSince1970
        }.min() ?? .nan
    }

    /// `+09:00`: the UTC offset of `zone` at `t`.
    static func offset(of t: Double, in zone: String) -> String {
        let seconds = TimeZone(identifier: zone)!.secondsFromGMT(for: Date(timeIntervalSince1970: t))
        return String(format: "%@%02d:%02d", seconds < 0 ? "-" : "+", abs(seconds) / 3600, abs(seconds) / 60 % 60)
    }

    static func format(_ t: Double, in zone: String) -> String {
        let f = DateFormatter()
        f.timeZone = TimeZone(identifier: zone)
        f.dateFormat = "yyyy-MM-dd'T'HH:mm:ssxxx"
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    // MARK: Tables

    /// One `schedule.next` call: its params and either the starts it answers or the words its
    /// -32602 message holds.
    struct NextCall: @unchecked Sendable {
        var value: [String: Any]
        var starts: [String]?
        var zone: String?
        var words: [String] = []
    }

    static let nextCalls: [NextCall] = [
        NextCall(value: ["expr": "0 9 * * MON-FRI", "count": 3, "from": "2026-11-20T00:00:00Z", "tz": "Europe/Berlin"],
                 starts: ["2026-11-20T09:00:00+01:00", "2026-11-23T09:00:00+01:00", "2026-11-24T09:00:00+01:00"], zone: "Europe/Berlin"),
        NextCall(value: ["expr": "0 9 * * mon-fri", "count": 1, "from": "2026-07-01T00:00:00Z", "tz": "Europe/Berlin"],
                 starts: ["2026-07-01T09:00:00+02:00"], zone: "Europe/Berlin"),
        // seconds field
        NextCall(value: ["expr": "*/20 * * * * *", "count": 3, "from": "2026-01-01T00:00:00+09:00", "tz": "Asia/Tokyo"],
                 starts: ["2026-01-01T00:00:20+09:00", "2026-01-01T00:00:40+09:00", "2026-01-01T00:01:00+09:00"], zone: "Asia/Tokyo"),
        // the expression's own zone wins over tz
        NextCall(value: ["expr": "TZ=Asia/Kolkata 0 9 * * *", "count": 1, "from": "2026-01-01T00:00:00Z", "tz": "Europe/Berlin"],
                 starts: ["2026-01-01T09:00:00+05:30"], zone: "Asia/Kolkata"),
        // spring forward: 02:30 does not exist on 8 March, it fires once at the end of the gap
        NextCall(value: ["expr": "30 2 * * *", "count": 3, "from": "2026-03-07T12:00:00-05:00", "tz": "America/New_York"],
                 starts: ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"], zone: "America/New_York"),
        // fall back: 01:30 occurs twice on 1 November, it fires at the first
        NextCall(value: ["expr": "30 1 * * *", "count": 3, "from": "2026-10-31T12:00:00-04:00", "tz": "America/New_York"],
                 starts: ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00", "2026-11-03T01:30:00-05:00"], zone: "America/New_York"),
        // bad parameters: each named
        NextCall(value: ["expr": "61 * * * *"], words: ["expr", "minute", "61"]),
        NextCall(value: ["expr": "*/0 * * * *"], words: ["expr", "minute", "step"]),
        NextCall(value: ["expr": "5-1 * * * *"], words: ["expr", "minute", "5-1"]),
        NextCall(value: ["expr": "* * * FOO *"], words: ["expr", "month", "FOO"]),
        NextCall(value: ["expr": "* * *"], words: ["expr", "fields"]),
        NextCall(value: ["expr": "0 0 30 2 *"], words: ["expr", "never"]),
        NextCall(value: ["expr": "@every 500ms"], words: ["expr", "@every"]),
        NextCall(value: ["expr": "TZ=Mars/Olympus 0 9 * * *"], words: ["expr", "Mars/Olympus"]),
        NextCall(value: ["expr": ""], words: ["expr"]),
        NextCall(value: ["expr": 42], words: ["expr", "string"]),
        NextCall(value: ["count": 3], words: ["expr"]),
        NextCall(value: ["expr": "0 9 * * *", "tz": "Mars/Olympus"], words: ["tz", "Mars/Olympus"]),
        NextCall(value: ["expr": "0 9 * * *", "tz": 5], words: ["tz"]),
        NextCall(value: ["expr": "0 9 * * *", "from": "yesterday"], words: ["from", "yesterday"]),
        NextCall(value: ["expr": "0 9 * * *", "from": "2026-13-45T00:00:00Z"], words: ["from"]),
        NextCall(value: ["expr": "0 9 * * *", "count": 0], words: ["count"]),
        NextCall(value: ["expr": "0 9 * * *", "count": -1], words: ["count"]),
        NextCall(value: ["expr": "0 9 * * *", "count": 2.5], words: ["count"]),
        NextCall(value: ["expr": "0 9 * * *", "count": "3"], words: ["count"]),
        NextCall(value: ["expr": "0 9 * * *", "count": 100_000_000], words: ["count"]),
        // and the connection still answers after all of them
        NextCall(value: ["expr": "0 0 1 1 *", "count": 2, "from": "2026-06-01T00:00:00Z", "tz": "UTC"],
                 starts: ["2027-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00"]),
    ]

    /// A flow file whose schedule settings are bad, and the words its load error must hold.
    struct BadFlow: Sendable {
        var file: String
        var field: String
        var text: String
        var words: [String]

        init(_ file: String, schedule: String, _ words: [String]) {
            self.file = file
            field = "schedule"
            text = ScheduleE2E.flow(file, schedule: schedule)
            self.words = words
        }

        init(_ file: String, field: String, fields: String, _ words: [String]) {
            self.file = file
            self.field = field
            text = ScheduleE2E.flow(file, schedule: "0 9 * * *", fields: fields)
            self.words = words
        }

        init(_ file: String, text: String, _ words: [String]) {
            self.file = file
            field = "text"
            self.text = text
            self.words = words
        }
    }

    static let badFlows: [BadFlow] = [
        BadFlow("minute_range", schedule: "61 * * * *", ["'schedule'", "minute", "61"]),
        BadFlow("zero_step", schedule: "*/0 * * * *", ["'schedule'", "minute", "step"]),
        BadFlow("reversed", schedule: "5-1 * * * *", ["'schedule'", "minute", "5-1"]),
        BadFlow("month_name", schedule: "* * * FOO *", ["'schedule'", "month", "FOO"]),
        BadFlow("few_fields", schedule: "* * *", ["'schedule'", "fields"]),
        BadFlow("tz_prefix", schedule: "TZ=Mars/Olympus 0 9 * * *", ["'schedule'", "zone", "Mars/Olympus"]),
        BadFlow("never", schedule: "0 0 30 2 *", ["'schedule'", "never"]),
        BadFlow("every_short", schedule: "@every 500ms", ["'schedule'", "@every", "500ms"]),
        BadFlow("bad_in_list", text: """
            -- one good schedule, one bad
            -- (the flow call is on line 3)
            flow { name = "bad_in_list",
              schedule = { "0 9 * * *", "0 25 * * *" },
              run = function() end }

            """, ["'schedule'", "hour", "25"]),
        BadFlow("timezone", field: "timezone", fields: #"timezone = "Nowhere/City","#, ["'timezone'", "zone", "Nowhere/City"]),
        BadFlow("overlap", field: "overlap", fields: #"overlap = "sometimes","#, ["'overlap'", "sometimes"]),
        BadFlow("catchup", field: "catchup", fields: #"catchup = "maybe","#, ["'catchup'", "maybe"]),
        BadFlow("catchup_window", field: "catchup_window", fields: #"catchup_window = "soon","#, ["'catchup_window'"]),
        BadFlow("jitter", field: "jitter", fields: #"jitter = "a bit","#, ["'jitter'"]),
        BadFlow("no_run", text: """
            -- a schedule, nothing to run
            -- (the flow call is on line 3)
            flow { name = "no_run", schedule = "0 9 * * *" }

            """, ["'run'", "schedule"]),
    ]
}
