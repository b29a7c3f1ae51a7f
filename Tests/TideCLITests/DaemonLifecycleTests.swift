// DaemonLifecycleTests.swift: end-to-end tests of `tide serve`'s life: reloading, start-up errors,
// one daemon per home, crashes (kill -9), graceful stops, signals, and who may connect.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("daemon lifecycle", .serialized)
struct DaemonLifecycleTests {
    typealias L = Lifecycle

    // MARK: - 1. Reloading

    @Test("reload: in-place edit, editor rename-over save, a file in a new sub-folder, deletion")
    func reloadPicksUpChanges() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a", description: "one")]) { home in
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            #expect(try await L.flow(d, "a")?["description"]?.string == "one")

            // an in-place write (truncate and write, as `echo > file` does)
            try home.overwrite("flows/a.lua", L.flow("a", description: "two, written in place"))
            #expect(await L.waitFor { try await L.flow(d, "a")?["description"]?.string == "two, written in place" },
                    "in-place edit not picked up; log:\n\(d.log.suffix(4000))")

            // an editor's save: a hidden temporary file in the same folder, renamed over the original
            try home.overwrite("flows/.a.lua.tmp", L.flow("a", description: "three, renamed over the original"))
            #expect(rename(home.dir.path + "/flows/.a.lua.tmp", home.dir.path + "/flows/a.lua") == 0)
            #expect(await L.waitFor { try await L.flow(d, "a")?["description"]?.string == "three, renamed over the original" },
                    "rename-over save not picked up; log:\n\(d.log.suffix(4000))")

            // a sub-folder created after the start, then a script written into it
            try FileManager.default.createDirectory(atPath: home.dir.path + "/flows/sub", withIntermediateDirectories: false)
            try home.overwrite("flows/sub/y.lua", L.flow("y", description: "in a new sub-folder"))
            #expect(await L.waitFor { try await L.flow(d, "y")?["file"]?.string == "flows/sub/y.lua" },
                    "a script in a new sub-folder not picked up; log:\n\(d.log.suffix(4000))")

            // deleting a file removes its flows (and only its flows)
            try FileManager.default.removeItem(atPath: home.dir.path + "/flows/a.lua")
            #expect(await L.waitFor { try await L.flow(d, "a") == nil }, "a deleted file's flow still served; log:\n\(d.log.suffix(4000))")

            let listed = try await L.json(d, ["flows"])
            #expect(listed["flows"]?.array?.compactMap { $0["name"]?.string } == ["y"])
            #expect(listed["errors"]?.array?.isEmpty == true)
            let gone = try await d.tide(["run", "a"])
            #expect(gone.status == 1, "running a deleted flow: \(gone.combined)")
            let y = try await d.tide(["run", "y", "--json"])
            #expect(y.status == 0 && (try? y.json()["result"]) == .string("y"), "\(y.combined)")
        }
    }

    @Test("an edit made while the daemon starts, after it read flows/, is not lost",
          arguments: ["inotify", "polling"])
    func editRightAfterStart(watcher: String) async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            // many folders, so that setting up the watches takes a while; the new file goes into
            // the folder the watcher reaches last (it walks in readdir order)
            for i in 0..<3000 {
                try FileManager.default.createDirectory(atPath: home.dir.path + "/flows/p\(i)", withIntermediateDirectories: false)
            }
            let last = try #require(try FileManager.default.contentsOfDirectory(atPath: home.dir.path + "/flows").last { $0.hasPrefix("p") })
            let d = try await home.start(watcher == "polling" ? ["--poll"] : [], waitForSocket: false)
            // write as soon as the daemon has read flows/, while it is still starting
            try #require(await waitUntil(timeout: .seconds(20)) { d.log.contains("flows loaded") || !d.process.isRunning })
            try home.overwrite("flows/\(last)/late.lua", L.flow("late", description: "written right after the start"))
            try home.overwrite("flows/a.lua", L.flow("a", description: "edited right after the start"))
            try #require(await waitUntil(timeout: .seconds(20)) { RawConnection.canConnect(d.socket) || !d.process.isRunning })
            try #require(d.process.isRunning, "tide serve exited; log:\n\(d.log)")
            // SPEC §4 says within 100 ms of the last write; 5 s is ample even on a loaded machine
            #expect(await L.waitFor(.seconds(5)) { try await L.flow(d, "late") != nil },
                    "a script written as the daemon started was never loaded; log:\n\(d.log.suffix(3000))")
            #expect(await L.waitFor(.seconds(5)) { try await L.flow(d, "a")?["description"]?.string == "edited right after the start" },
                    "an edit made as the daemon started was never loaded; log:\n\(d.log.suffix(3000))")
        }
    }

    // MARK: - 2. A failed load keeps the previous version

    @Test("a syntax error keeps the old version serving and is shown with file:line; a duplicate name is an error of the later file")
    func failedLoadKeepsOldVersion() async throws {
        try await L.withHome(files: ["flows/b.lua": L.flow("b", result: "v1")]) { home in
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            // line 3 is the error
            try home.overwrite("flows/b.lua", """
                flow { name = "b",
                  run = function() return "v2" end
                  oops oops
                }

                """)
            try #require(await L.waitFor { try await L.fileErrors(d)["flows/b.lua"] != nil },
                         "the syntax error was not reported; log:\n\(d.log.suffix(4000))")
            let error = try await L.fileErrors(d)["flows/b.lua"] ?? ""
            #expect(error.contains("flows/b.lua:3:"), "error without file:line: \(error)")
            #expect(try await L.flow(d, "b") != nil, "the old version of b is no longer listed")

            let old = try await d.tide(["run", "b", "--json"])
            #expect(old.status == 0, "\(old.combined)")
            #expect((try? old.json()["result"]) == .string("v1"), "the run did not use the previous good version: \(old.stdout)")

            let text = try await d.tide(["flows"])
            #expect(text.status == 0)
            #expect(text.stdout.contains("flows/b.lua:3:"), "tide flows does not show the error with file:line:\n\(text.stdout)")
            #expect(d.log.contains("flows/b.lua:3:"), "the daemon log does not show the error")

            // fixing the file clears the error and serves the new version
            try home.overwrite("flows/b.lua", L.flow("b", result: "v3, fixed"))
            #expect(await L.waitFor { try await L.fileErrors(d).isEmpty }, "the error stayed after the fix; log:\n\(d.log.suffix(4000))")
            let fixed = try await d.tide(["run", "b", "--json"])
            #expect((try? fixed.json()["result"]) == .string("v3, fixed"), "\(fixed.combined)")

            // a second file defining "b" again is a load error of that (later) file
            try home.overwrite("flows/c.lua", """
                flow { name = "c_other", run = function() return "c" end }
                flow { name = "b", run = function() return "from c.lua" end }

                """)
            try #require(await L.waitFor { try await L.fileErrors(d)["flows/c.lua"] != nil },
                         "the duplicate name was not reported; log:\n\(d.log.suffix(4000))")
            let duplicate = try await L.fileErrors(d)["flows/c.lua"] ?? ""
            #expect(duplicate.contains("flows/c.lua:2:") && duplicate.contains("'b'"), "unclear duplicate error: \(duplicate)")
            #expect(try await L.flow(d, "b")?["file"]?.string == "flows/b.lua")
            #expect(try await L.flow(d, "c_other") == nil, "a file that failed to load serves some of its flows")
            let stillB = try await d.tide(["run", "b", "--json"])
            #expect((try? stillB.json()["result"]) == .string("v3, fixed"), "\(stillB.combined)")
            let text2 = try await d.tide(["flows"])
            #expect(text2.stdout.contains("flows/c.lua:2:"), "\(text2.stdout)")
        }
    }

    // MARK: - 3. Invalid UTF-8

    @Test("a flow file that is not UTF-8 is reported as an error and the daemon keeps serving")
    func invalidUTF8() async throws {
        try await L.withHome(files: ["flows/good.lua": L.flow("good", result: "ok")]) { home in
            // present at start: a valid script but for two bytes that are not UTF-8, in a comment
            try home.overwrite("flows/bad.lua", Data("-- ".utf8) + Data([0xff, 0xfe]) + Data("\n\(L.flow("u", result: "u"))".utf8))
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            let atStart = try await L.fileErrors(d)
            #expect(atStart["flows/bad.lua"].map { $0.lowercased().contains("utf-8") } == true, "\(atStart)")
            #expect(try await L.flow(d, "u") == nil)

            // written while serving: nothing but the two bytes
            try home.overwrite("flows/bad2.lua", Data([0xff, 0xfe]))
            #expect(await L.waitFor { try await L.fileErrors(d)["flows/bad2.lua"] != nil },
                    "the non-UTF-8 file was not reported; log:\n\(d.log.suffix(4000))")

            let text = try await d.tide(["flows"])
            #expect(text.status == 0 && text.stdout.contains("flows/bad.lua") && text.stdout.contains("flows/bad2.lua"), "\(text.combined)")
            let json = try await d.tide(["flows", "--json"])
            #expect(json.status == 0 && (try? json.json()) != nil, "tide flows --json is not JSON: \(json.combined)")

            let status = try await d.tide(["status"])
            #expect(status.status == 0, "\(status.combined)")
            let statusJSON = try await L.json(d, ["status"])
            #expect(statusJSON["failed_files"]?.number == 2)
            let run = try await d.tide(["run", "good", "--json"])
            #expect(run.status == 0 && (try? run.json()["result"]) == .string("ok"), "\(run.combined)")
        }
    }

    // MARK: - 4. A file deleted while its run is in progress

    @Test("a run whose file is deleted mid-run finishes on its version; then the flow is gone")
    func deletedDuringRun() async throws {
        try await L.withHome(files: ["flows/slow.lua": """
            flow { name = "slow", run = function()
              step("before", function() return 1 end)
              sleep(1)
              return step("after", function() return "finished on v1" end)
            end }

            """]) { home in
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            let id = try await L.detach(d, "slow")
            #expect(try await L.runStatus(d, id) == "running")
            try FileManager.default.removeItem(atPath: home.dir.path + "/flows/slow.lua")
            try #require(await L.waitFor { try await L.flow(d, "slow") == nil },
                         "the deleted file's flow is still listed; log:\n\(d.log.suffix(4000))")
            #expect(try await L.runStatus(d, id) == "running", "the run ended as soon as its file was deleted")

            try #require(await L.waitFor(.seconds(15)) { try await L.runStatus(d, id) != "running" })
            let show = try await L.json(d, ["show", id])
            #expect(show["status"]?.string == "succeeded", "\(show)")
            #expect(show["result"] == .string("finished on v1"), "\(show)")
            #expect(show["steps"]?.array?.compactMap { $0["name"]?.string } == ["before", "after"], "\(show)")

            let flows = try await L.json(d, ["flows"])
            #expect(flows["flows"]?.array?.isEmpty == true, "\(flows)")
            let again = try await d.tide(["run", "slow"])
            #expect(again.status == 1, "\(again.combined)")
        }
    }

    // MARK: - 5. One daemon per home

    @Test("a second tide serve on the same home is refused while the first keeps serving")
    func secondServeRefused() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let d = try await home.start()
            let same = try await TideProcess.run(
                ["serve", "--home", home.dir.path, "--socket", d.socket], in: home.dir.url, timeout: .seconds(15))
            #expect(!same.timedOut && same.status == 1, "second serve, same socket: \(same.combined)")
            #expect(same.stderr.contains("already running"), "\(same.stderr)")

            let otherSocket = home.dir.path + "/other.sock"
            let other = try await TideProcess.run(
                ["serve", "--home", home.dir.path, "--socket", otherSocket], in: home.dir.url, timeout: .seconds(15))
            #expect(!other.timedOut && other.status == 1, "second serve, other socket: \(other.combined)")
            #expect(other.stderr.contains("already running"), "\(other.stderr)")
            #expect(!FileManager.default.fileExists(atPath: otherSocket))

            #expect(d.process.isRunning)
            #expect(FileManager.default.fileExists(atPath: d.socket), "the refused daemon removed the first one's socket")
            let status = try await L.json(d, ["status"])
            #expect(status["pid"]?.number == Double(d.pid))
            let run = try await d.tide(["run", "a", "--json"])
            #expect(run.status == 0, "\(run.combined)")
        }
    }

    // MARK: - 6. Stale socket

    @Test("after kill -9 the stale socket is reclaimed by the next tide serve")
    func staleSocketReclaimed() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let first = try await home.start()
            await first.stop(signal: SIGKILL)
            #expect(FileManager.default.fileExists(atPath: first.socket), "precondition: kill -9 leaves the socket file")
            #expect(!RawConnection.canConnect(first.socket))

            let second = try await home.start()
            let status = try await second.tide(["status"])
            #expect(status.status == 0, "\(status.combined)")
            #expect(try await L.json(second, ["status"])["pid"]?.number == Double(second.pid))
            let run = try await second.tide(["run", "a", "--json"])
            #expect(run.status == 0, "\(run.combined)")
        }
    }

    // MARK: - 7. Socket path length

    @Test("a socket path over 107 bytes is a clear start-up error, and nothing is created")
    func socketPathTooLong() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let folder = home.dir.path + "/sockets"
            for length in [108, 200] {
                let path = L.path(in: folder, length: length)
                #expect(path.utf8.count == length)
                let r = try await TideProcess.run(["serve", "--home", home.dir.path, "--socket", path], in: home.dir.url, timeout: .seconds(15))
                #expect(!r.timedOut && r.status == 1, "\(length) bytes: \(r.combined)")
                #expect(r.duration < .seconds(5), "took \(r.duration)")
                #expect(r.stderr.contains("107") && r.stderr.contains("limit"), "the message does not mention the limit: \(r.stderr)")
                #expect(!FileManager.default.fileExists(atPath: path))
                let created = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
                #expect(created.isEmpty, "files created for a refused socket path: \(created)")
            }
        }
    }

    @Test("a socket path of up to 107 bytes works (sun_path is 108 bytes with the NUL): 103, 104 and 107 tried")
    func socketPathAtTheLimit() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let folder = home.dir.path + "/sockets"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for length in [103, 104, 107] {
                let path = L.path(in: folder, length: length)
                try #require(path.utf8.count == length, "the scratch folder's path is too long for this test")
                let d = try await home.start(socket: path)
                let status = try await d.tide(["status"])
                #expect(status.status == 0, "\(length) bytes: \(status.combined)")
                await d.stop()
            }
        }
    }

    // MARK: - 8. Unwritable state folder

    @Test("a state folder that cannot be created is a start-up error naming the path")
    func unwritableState() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let file = try home.dir.write("a-file", "not a folder\n")
            for state in [file + "/sub", file] {
                let r = try await TideProcess.run(
                    ["serve", "--home", home.dir.path, "--state", state, "--socket", home.dir.path + "/s.sock"],
                    in: home.dir.url, timeout: .seconds(15))
                #expect(!r.timedOut && r.status == 1, "--state \(state): \(r.combined)")
                #expect(r.duration < .seconds(5), "took \(r.duration)")
                #expect(r.stderr.contains(state), "the message does not name \(state): \(r.stderr)")
                #expect(!FileManager.default.fileExists(atPath: home.dir.path + "/s.sock"))
            }
        }
    }

    // MARK: - 9. kill -9 during runs

    @Test("kill -9 with runs in progress and queued: finished intact, running interrupted, queued not lost")
    func killDuringRuns() async throws {
        let long = "30.\(Int.random(in: 100_000...999_999))"
        let limited = "30.\(Int.random(in: 100_000...999_999))"
        try await L.withHome(files: [
            "flows/fast.lua": """
                flow { name = "fast", run = function()
                  local v = step("s1", function() return 41 end)
                  return step("s2", function() return v + 1 end)
                end }

                """,
            "flows/long.lua": #"flow { name = "long", run = function() sh("sleep \#(long)") end }"#,
            "flows/lim.lua": #"flow { name = "lim", max_concurrent = 1, run = function(ctx) sh("sleep " .. ctx.payload.t) return ctx.payload.t end }"#,
        ], markers: [long, limited]) { home in
            let d1 = try await home.start(["--grace-period", "200ms"])
            let fastRun = try await d1.tide(["run", "fast", "--json"])
            #expect(fastRun.status == 0, "\(fastRun.combined)")
            let fastID = try #require(try fastRun.json()["run_id"]?.string)

            let long1 = try await L.detach(d1, "long")
            let long2 = try await L.detach(d1, "long")
            let limRunning = try await L.detach(d1, "lim", payload: #"{"t":"\#(limited)"}"#)
            let limQueued1 = try await L.detach(d1, "lim", payload: #"{"t":"0.2"}"#)
            let limQueued2 = try await L.detach(d1, "lim", payload: #"{"t":"0.2"}"#)

            // the state before the crash: 3 running (their commands started), 2 queued
            try #require(await L.waitFor {
                let s = try await L.statuses(d1)
                return [long1, long2, limRunning].allSatisfy { s[$0] == "running" } && [limQueued1, limQueued2].allSatisfy { s[$0] == "queued" }
            }, "the runs did not reach 3 running and 2 queued; log:\n\(d1.log.suffix(4000))")
            try #require(await waitUntil(timeout: .seconds(10)) {
                L.sleeps(long) == 2 && L.sleeps(limited) == 1
            }, "the commands did not start; log:\n\(d1.log.suffix(4000))")

            await d1.stop(signal: SIGKILL)
            // the commands of the dead daemon are orphans now: end them as an init system would
            L.kill(matching: "sleep \(long)")
            L.kill(matching: "sleep \(limited)")
            #expect(await waitUntil(timeout: .seconds(5)) {
                L.processes(matching: "sleep \(long)").isEmpty && L.processes(matching: "sleep \(limited)").isEmpty
            })

            let d2 = try await home.start(["--grace-period", "200ms"])
            let fast = try await L.json(d2, ["show", fastID])
            #expect(fast["status"]?.string == "succeeded", "\(fast)")
            #expect(fast["result"]?.number == 42, "\(fast)")
            #expect(fast["steps"]?.array?.map { [$0["name"]?.string, $0["status"]?.string] } == [["s1", "succeeded"], ["s2", "succeeded"]], "\(fast)")

            for id in [long1, long2, limRunning] {
                let show = try await L.json(d2, ["show", id])
                #expect(show["status"]?.string == "interrupted", "\(id): \(show)")
            }
            // the queued runs were not lost: they run now, one at a time, and succeed
            let drained = await L.waitFor(.seconds(15)) {
                let first = try await L.runStatus(d2, limQueued1)
                let second = try await L.runStatus(d2, limQueued2)
                return first == "succeeded" && second == "succeeded"
            }
            let after = try await L.statuses(d2)
            #expect(drained, "queued runs after restart: \(after[limQueued1] ?? "missing"), \(after[limQueued2] ?? "missing"); log:\n\(d2.log.suffix(4000))")
            let all = try await L.statuses(d2)
            for id in [fastID, long1, long2, limRunning, limQueued1, limQueued2] {
                #expect(all[id] != nil, "run \(id) is missing from tide runs")
            }
            // interrupted runs are not restarted
            #expect(L.processes(matching: "sleep \(long)").isEmpty && L.processes(matching: "sleep \(limited)").isEmpty)
        }
    }

    // MARK: - 10. Graceful stop

    @Test("SIGTERM: a run longer than the grace period is cancelled; one that finishes within it succeeds")
    func gracefulStop() async throws {
        let marker = "30.\(Int.random(in: 100_000...999_999))"
        try await L.withHome(files: [
            "flows/long.lua": #"flow { name = "long", run = function() sh("sleep \#(marker)") end }"#,
            "flows/quick.lua": #"flow { name = "quick", run = function() sleep(1) return "done" end }"#,
        ], markers: [marker]) { home in
            // past the grace period: cancelled
            let d1 = try await home.start(["--grace-period", "500ms"])
            let longID = try await L.detach(d1, "long")
            try #require(await waitUntil(timeout: .seconds(10)) { !L.processes(matching: "sleep \(marker)").isEmpty })
            let clock = ContinuousClock()
            let start = clock.now
            let exit = await d1.stop(signal: SIGTERM, timeout: .seconds(20))
            let took = clock.now - start
            #expect(exit == 0, "log:\n\(d1.log.suffix(4000))")
            #expect(took < .seconds(5), "a 500 ms grace period took \(took) to stop")
            #expect(await waitUntil(timeout: .seconds(1)) { L.processes(matching: "sleep \(marker)").isEmpty },
                    "the cancelled run's command outlived the daemon")

            // within the grace period: succeeded
            let d2 = try await home.start(["--grace-period", "10s"])
            let cancelled = try await L.json(d2, ["show", longID])
            #expect(cancelled["status"]?.string == "cancelled", "\(cancelled)")
            let quickID = try await L.detach(d2, "quick")
            #expect(try await L.runStatus(d2, quickID) == "running")
            let start2 = clock.now
            let exit2 = await d2.stop(signal: SIGTERM, timeout: .seconds(20))
            let took2 = clock.now - start2
            #expect(exit2 == 0, "log:\n\(d2.log.suffix(4000))")
            #expect(took2 < .seconds(8), "stopping with a 1 s run and a 10 s grace period took \(took2)")

            let d3 = try await home.start()
            let quick = try await L.json(d3, ["show", quickID])
            #expect(quick["status"]?.string == "succeeded", "\(quick)")
            #expect(quick["result"] == .string("done"), "\(quick)")
        }
    }

    // MARK: - 11. SIGHUP

    @Test("SIGHUP rescans: a change no watcher can see (a symlinked script's target) is picked up")
    func sighupRescans() async throws {
        try await L.withHome(files: [
            "flows/plain.lua": L.flow("plain"),
            "elsewhere/real.lua": L.flow("linked", description: "before"),
        ]) { home in
            try FileManager.default.createSymbolicLink(
                atPath: home.dir.path + "/flows/linked.lua", withDestinationPath: home.dir.path + "/elsewhere/real.lua")
            let d = try await home.start()
            #expect(try await L.flow(d, "linked")?["description"]?.string == "before")

            // outside flows/: inotify reports nothing
            try home.overwrite("elsewhere/real.lua", L.flow("linked", description: "after the SIGHUP"))
            kill(d.pid, SIGHUP)
            #expect(await L.waitFor { try await L.flow(d, "linked")?["description"]?.string == "after the SIGHUP" },
                    "SIGHUP did not rescan; log:\n\(d.log.suffix(4000))")
            #expect(d.log.contains("SIGHUP"))
            #expect(d.process.isRunning)
            let flows = try await L.json(d, ["flows"])
            #expect(flows["flows"]?.array?.compactMap { $0["name"]?.string } == ["linked", "plain"], "\(flows)")
            #expect(flows["errors"]?.array?.isEmpty == true, "\(flows)")
            let status = try await d.tide(["status"])
            #expect(status.status == 0)
        }
    }

    // MARK: - 12. Polling

    @Test("--poll: the watcher is polling, and edits, new files and deletions are still picked up")
    func pollingFallback() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a", description: "one")]) { home in
            let d = try await home.start(["--poll"])
            #expect(try await L.json(d, ["status"])["watcher"]?.string == "polling")
            try await L.waitForWatcher(home, d)

            try home.overwrite("flows/a.lua", L.flow("a", description: "edited while polling"))
            #expect(await L.waitFor { try await L.flow(d, "a")?["description"]?.string == "edited while polling" },
                    "edit not picked up by polling; log:\n\(d.log.suffix(4000))")
            try FileManager.default.createDirectory(atPath: home.dir.path + "/flows/new", withIntermediateDirectories: false)
            try home.overwrite("flows/new/b.lua", L.flow("b"))
            #expect(await L.waitFor { try await L.flow(d, "b") != nil }, "new file not picked up by polling")
            try FileManager.default.removeItem(atPath: home.dir.path + "/flows/a.lua")
            #expect(await L.waitFor { try await L.flow(d, "a") == nil }, "deletion not picked up by polling")
        }
    }

    // MARK: - 13. Peer credentials

    @Test("a connection from another user is refused with permission_denied",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                   && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func otherUserRefused() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let d = try await home.start()
            let folder = (d.socket as NSString).deletingLastPathComponent
            // let user nobody reach the socket: only the peer-credential check is left to stop it
            chmod(home.dir.path, 0o755)
            chmod(folder, 0o711)
            chmod(d.socket, 0o666)
            let script = """
                import socket, sys
                s = socket.socket(socket.AF_UNIX)
                s.connect(sys.argv[1])
                try:
                    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"daemon.status"}\\n')
                except OSError:
                    pass
                data = b''
                while b'\\n' not in data:
                    try:
                        chunk = s.recv(65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    data += chunk
                sys.stdout.write(data.decode('utf-8', 'replace'))
                """
            let r = try await L.runProgram("/usr/bin/timeout", [
                "10", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                "/usr/bin/python3", "-c", script, d.socket,
            ])
            chmod(folder, 0o700)
            chmod(d.socket, 0o600)
            #expect(r.status == 0, "the client as nobody failed: \(r.stderr)")
            let line = r.stdout.split(separator: "\n").first.map(String.init) ?? ""
            let reply = try? JSONValue.parse(line)
            #expect(reply?["error"]?["data"]?["code"]?.string == "permission_denied", "reply to nobody: \(r.stdout) \(r.stderr)")
            #expect(reply?["result"] == nil, "nobody got a result: \(line)")
            #expect(d.log.contains("refused a connection from nobody (uid 65534)"), "\(d.log.suffix(2000))")

            let status = try await d.tide(["status"])
            #expect(status.status == 0, "\(status.combined)")
            #expect(d.process.isRunning)
        }
    }

    // MARK: - 14. No daemon

    @Test("client commands exit 3 with a clear message when no daemon runs")
    func noDaemonExit3() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            for arguments in [["status"], ["flows", "--json"], ["run", "a"], ["runs"]] {
                let r = try await TideProcess.run(arguments, in: home.dir.url, timeout: .seconds(15))
                #expect(r.status == 3, "tide \(arguments.joined(separator: " ")): \(r.combined)")
                #expect(r.stderr.contains("cannot reach the daemon"), "tide \(arguments.joined(separator: " ")): \(r.stderr)")
                #expect(r.stdout.isEmpty, "tide \(arguments.joined(separator: " ")) printed: \(r.stdout)")
            }
            // a leftover file at the socket path answers nobody either
            try home.dir.write(".tide/tide.sock", "")
            let r = try await TideProcess.run(["status"], in: home.dir.url, timeout: .seconds(15))
            #expect(r.status == 3, "\(r.combined)")
            #expect(r.stderr.contains("cannot reach the daemon"), "\(r.stderr)")
        }
    }
}

// MARK: - Helpers

/// A scratch home and the daemons started on it (stopped at the end, whatever happens).
final class LifecycleHome: @unchecked Sendable {
    let dir: ScratchDirectory
    private(set) var daemons: [RunningDaemon] = []

    init(dir: ScratchDirectory) {
        self.dir = dir
    }

    /// Starts `tide serve` on this home and (unless told otherwise) waits until it answers.
    func start(_ arguments: [String] = [], socket: String? = nil, waitForSocket: Bool = true) async throws -> RunningDaemon {
        let daemon = try await RunningDaemon(home: dir, socket: socket, arguments: arguments, waitForSocket: waitForSocket)
        daemons.append(daemon)
        return daemon
    }

    /// Writes `text` over `name` in place (truncate and write, no rename).
    func overwrite(_ name: String, _ text: String) throws {
        try overwrite(name, Data(text.utf8))
    }

    func overwrite(_ name: String, _ data: Data) throws {
        try data.write(to: dir.url.appending(path: name))
    }

    func stopAll(signal: Int32) async {
        for daemon in daemons where daemon.process.isRunning {
            await daemon.stop(signal: signal, timeout: .seconds(20))
        }
    }
}

enum Lifecycle {
    /// Runs `body` with a fresh home holding `files`; afterwards stops every daemon and kills any
    /// leftover process whose command line holds one of `markers`.
    static func withHome<T>(
        files: [String: String] = [:], markers: [String] = [],
        _ body: (LifecycleHome) async throws -> T
    ) async throws -> T {
        try await withScratchDirectory { dir in
            for (name, text) in files { try dir.write(name, text) }
            let home = LifecycleHome(dir: dir)
            do {
                let result = try await body(home)
                await home.stopAll(signal: SIGTERM)
                for marker in markers { kill(matching: marker) }
                return result
            } catch {
                await home.stopAll(signal: SIGKILL)
                for marker in markers { kill(matching: marker) }
                throw error
            }
        }
    }

    /// A one-flow script.
    static func flow(_ name: String, description: String? = nil, result: String? = nil) -> String {
        let d = description.map { "description = \"\($0)\", " } ?? ""
        return "flow { name = \"\(name)\", \(d)run = function() return \"\(result ?? name)\" end }\n"
    }

    /// Polls an async condition every 25 ms until it holds (errors count as false) or `timeout` passes.
    static func waitFor(_ timeout: Duration = .seconds(10), _ condition: @escaping @Sendable () async throws -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if (try? await condition()) == true { return true }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return (try? await condition()) == true
    }

    /// Waits until the daemon's watcher is live: rewrites a probe script until its flow shows up,
    /// then deletes it and waits until it is gone. (An edit made before the watches exist can be
    /// lost: ``DaemonLifecycleTests/editRightAfterStart()`` tests that on its own.)
    static func waitForWatcher(_ home: LifecycleHome, _ d: RunningDaemon, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let live = await waitFor {
            if try await flow(d, "watcher_probe") != nil { return true }
            try home.overwrite("flows/watcher_probe.lua", flow("watcher_probe", description: UUID().uuidString))
            return false
        }
        try #require(live, "the watcher never noticed a new script; log:\n\(d.log.suffix(3000))", sourceLocation: sourceLocation)
        try FileManager.default.removeItem(atPath: home.dir.path + "/flows/watcher_probe.lua")
        try #require(await waitFor { try await flow(d, "watcher_probe") == nil },
                     "the watcher never noticed a deletion; log:\n\(d.log.suffix(3000))", sourceLocation: sourceLocation)
    }

    /// The result of a control-protocol call (throws on an error response).
    static func rpc(_ d: RunningDaemon, _ method: String, _ params: [String: any Sendable] = [:]) async throws -> JSONValue {
        let response = try await d.call(method, params)
        if let error = response["error"] {
            throw HarnessError("\(method) answered an error: \(error)")
        }
        let data = try JSONSerialization.data(withJSONObject: response["result"] ?? NSNull(), options: [.fragmentsAllowed])
        return try JSONValue.parse(String(decoding: data, as: UTF8.self))
    }

    /// `tide ARGS --json`, which must exit 0.
    static func json(_ d: RunningDaemon, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) async throws -> JSONValue {
        let out = try await d.tide(arguments + ["--json"], sourceLocation: sourceLocation)
        guard out.status == 0 else {
            throw HarnessError("tide \(arguments.joined(separator: " ")) --json exited \(out.status): \(out.combined)")
        }
        return try out.json()
    }

    /// The flow called `name` as `flows.list` shows it.
    static func flow(_ d: RunningDaemon, _ name: String) async throws -> JSONValue? {
        try await rpc(d, "flows.list")["flows"]?.array?.first { $0["name"]?.string == name }
    }

    /// The files that failed to load, with their errors.
    static func fileErrors(_ d: RunningDaemon) async throws -> [String: String] {
        var out: [String: String] = [:]
        for e in try await rpc(d, "flows.list")["errors"]?.array ?? [] {
            if let file = e["file"]?.string { out[file] = e["error"]?.string ?? "" }
        }
        return out
    }

    /// A run's status.
    static func runStatus(_ d: RunningDaemon, _ id: String) async throws -> String? {
        try await rpc(d, "run.get", ["run_id": id])["status"]?.string
    }

    /// Every recent run's status, by id.
    static func statuses(_ d: RunningDaemon) async throws -> [String: String] {
        var out: [String: String] = [:]
        for r in try await rpc(d, "runs.list", ["limit": 100])["runs"]?.array ?? [] {
            if let id = r["run_id"]?.string { out[id] = r["status"]?.string }
        }
        return out
    }

    /// `tide run FLOW --detach`: the acknowledged run id.
    static func detach(_ d: RunningDaemon, _ flow: String, payload: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
        let out = try await d.tide(["run", flow, "--detach"] + (payload.map { ["--payload", $0] } ?? []), sourceLocation: sourceLocation)
        let id = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard out.status == 0, id.hasPrefix("run_"), id.count == 20 else {
            throw HarnessError("tide run \(flow) --detach: exit \(out.status): \(out.combined)")
        }
        return id
    }

    /// A path of exactly `length` bytes: `folder/sss...s.sock`.
    static func path(in folder: String, length: Int) -> String {
        let fill = max(1, length - folder.utf8.count - 1 - ".sock".utf8.count)
        return folder + "/" + String(repeating: "s", count: fill) + ".sock"
    }

    /// Live (not zombie) processes whose command line contains `marker`.
    static func processes(matching marker: String) -> [Int32] {
        var out: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let cmdline = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if cmdline.contains(marker), stat[stat.index(close, offsetBy: 2)] != "Z" { out.append(pid) }
        }
        return out
    }

    /// How many live `sleep MARKER` commands there are (their shells not counted).
    static func sleeps(_ marker: String) -> Int {
        processes(matching: "sleep \(marker)").filter { pid in
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            return String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self).hasPrefix("sleep ")
        }.count
    }

    /// SIGKILLs the live processes whose command line contains `marker` (a unique token of this test).
    static func kill(matching marker: String) {
        for pid in processes(matching: marker) { Glibc.kill(pid, SIGKILL) }
    }

    /// Runs a program to completion on a thread of its own; small outputs only.
    static func runProgram(_ path: String, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await blocking {
            let process = Process()
            process.executableURL = URL(filePath: path)
            process.arguments = arguments
            let out = Pipe()
            let err = Pipe()
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = out
            process.standardError = err
            try ChildLauncher.run(process)
            let o = out.fileHandleForReading.readDataToEndOfFile()
            let e = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
        }
    }
}
