// SQLiteStoreTests.swift: the run history in SQLite: round-trips, posted and durable writes,
// recovery after a crash, retention, the key-value store and failure isolation of group commit.
import Foundation
import Testing
import TideProtocol
import TideStore

// MARK: - Helpers

/// A fresh temporary folder, removed when `body` returns (or throws).
private func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async throws -> T {
    let dir = NSTemporaryDirectory() + "tide-store-tests-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try await body(dir)
}

/// A store in a fresh temporary folder, closed and removed after `body`.
private func withStore<T>(keepRuns: Int = 1000, _ body: (SQLiteStore, String) async throws -> T) async throws -> T {
    try await withTemporaryDirectory { dir in
        let path = dir + "/state.sqlite"
        let store = try SQLiteStore(path: path, keepRuns: keepRuns)
        do {
            let value = try await body(store, path)
            try await store.close()
            return value
        } catch {
            try await store.close()
            throw error
        }
    }
}

private func row(_ id: String, flow: String = "f", status: RunStatus = .queued, queuedAt: Double = 1_700_000_000,
                 startedAt: Double? = nil) -> RunRow {
    RunRow(id: id, flow: flow, status: status, trigger: "manual", queuedAt: queuedAt, startedAt: startedAt)
}

private func step(_ node: Int, parent: Int? = nil, name: String? = nil, status: NodeStatus = .running,
                  attempts: Int = 1, startedAt: Double = 1_700_000_010, finishedAt: Double? = nil,
                  result: String? = nil) -> StepRecord {
    StepRecord(id: node, parent: parent, kind: .step, name: name ?? "step\(node)", status: status, attempts: attempts,
               startedAt: startedAt, finishedAt: finishedAt, result: result)
}

private func log(_ message: String, time: Double = 1_700_000_020.25, node: Int? = nil,
                 level: LogLine.Level = .info) -> LogLine {
    LogLine(level: level, message: message, time: time, node: node)
}

extension SQLiteStore {
    /// `finish` with the defaults tests mostly want.
    fileprivate func end(_ id: String, _ status: RunStatus = .succeeded, at time: Double = 1_700_000_100,
                         result: String? = nil, error: String? = nil, compensationErrors: String? = nil,
                         steps: [StepRecord] = []) async throws {
        try await finish(id, status: status, startedAt: nil, at: time, result: result, error: error,
                         compensationErrors: compensationErrors, steps: steps)
    }

    fileprivate func ids(_ filter: RunFilter) async throws -> [String] {
        try await runs(filter).map(\.id)
    }
}

// MARK: - Tests

@Suite("SQLiteStore")
struct SQLiteStoreTests {
    // 1.
    @Test("insert then run() returns every field as written")
    func insertRoundTrip() async throws {
        try await withStore { store, _ in
            let queued = RunRow(
                id: "run-1", flow: "deploy", file: "ops/deploy.lua", status: .queued, trigger: "event",
                payload: #"{"ref":"main","n":3}"#, scheduledAt: "2024-05-01T10:00:00Z",
                event: #"{"run_id":"up-1","flow":"build","status":"succeeded"}"#, queuedAt: 1_700_000_000.123456)
            let running = RunRow(
                id: "run-2", flow: "backup", file: nil, status: .running, trigger: "schedule", payload: nil,
                scheduledAt: nil, event: nil, queuedAt: 1_700_000_001.5, startedAt: 1_700_000_002.75)
            try await store.insert(queued)
            try await store.insert(running)

            #expect(try await store.run("run-1") == queued)
            #expect(try await store.run("run-2") == running)
            #expect(try await store.run("nope") == nil)
        }
    }

    // 1.
    @Test("runs(filter): by flow, by status, combined, limit, newest first")
    func runsFilter() async throws {
        try await withStore { store, _ in
            for (i, (id, flow)) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("b2", "b"), ("a3", "a"), ("b3", "b")]
                .enumerated() {
                // queued_at deliberately decreasing: the order is insertion order, not a timestamp
                try await store.insert(row(id, flow: flow, queuedAt: 1_700_000_000 - Double(i)))
            }
            try await store.end("a2", .failed, error: #"{"message":"boom"}"#)
            try await store.end("b2", .succeeded)
            store.markRunning("a3", at: 1_700_000_050)
            try await store.flush()

            #expect(try await store.ids(RunFilter()) == ["b3", "a3", "b2", "a2", "b1", "a1"])
            #expect(try await store.ids(RunFilter(flow: "a")) == ["a3", "a2", "a1"])
            #expect(try await store.ids(RunFilter(flow: "b")) == ["b3", "b2", "b1"])
            #expect(try await store.ids(RunFilter(status: .queued)) == ["b3", "b1", "a1"])
            #expect(try await store.ids(RunFilter(status: .running)) == ["a3"])
            #expect(try await store.ids(RunFilter(status: .failed)) == ["a2"])
            #expect(try await store.ids(RunFilter(flow: "a", status: .queued)) == ["a1"])
            #expect(try await store.ids(RunFilter(flow: "b", status: .failed)) == [])
            #expect(try await store.ids(RunFilter(limit: 2)) == ["b3", "a3"])
            #expect(try await store.ids(RunFilter(flow: "a", limit: 1)) == ["a3"])
            #expect(try await store.ids(RunFilter(flow: "nobody")) == [])
            // every row comes back whole, not only its id
            #expect(try await store.runs(RunFilter(flow: "a", status: .failed)).first?.error == #"{"message":"boom"}"#)
        }
    }

    // 2.
    @Test("posted markRunning, steps and logs are visible after flush()")
    func postedWritesAfterFlush() async throws {
        try await withStore { store, _ in
            try await store.insert(row("r"))
            store.markRunning("r", at: 1_700_000_005.5)
            // posted out of order: read back by node
            let s3 = StepRecord(id: 3, parent: 1, kind: .branch, name: "left", status: .running, startedAt: 1_700_000_012)
            let s1 = StepRecord(id: 1, parent: nil, kind: .group, name: "fan", primitive: "parallel", status: .running,
                                attempts: 0, startedAt: 1_700_000_010, total: 2, done: 0)
            let s2 = StepRecord(id: 2, parent: 1, kind: .step, name: "fetch", status: .failed, attempts: 3,
                                startedAt: 1_700_000_011.125, finishedAt: 1_700_000_011.5,
                                error: #"{"message":"timeout"}"#)
            let s4 = StepRecord(id: 4, parent: nil, kind: .compensation, name: "undo", status: .succeeded, attempts: 1,
                                startedAt: 1_700_000_013, finishedAt: 1_700_000_014, result: #"[1,"x"]"#)
            for s in [s3, s1, s4, s2] { store.record(step: s, run: "r") }
            // logs out of order too: read back by seq
            let lines = [3: log("three", time: 1_700_000_003.5, node: 2, level: .error),
                         1: log("one", time: 1_700_000_001.25), 2: log("two", time: 1_700_000_002, level: .warn)]
            for seq in [3, 1, 2] { store.record(log: lines[seq]!, seq: seq, run: "r") }
            try await store.flush()

            let run = try #require(try await store.run("r"))
            #expect(run.status == .running)
            #expect(run.startedAt == 1_700_000_005.5)
            #expect(try await store.steps(of: "r") == [s1, s2, s3, s4])
            let logs = try await store.logs(of: "r", after: 0, limit: 100)
            #expect(logs == [
                LogEntry(seq: 1, time: isoTimestamp(1_700_000_001.25), level: .info, message: "one", node: nil),
                LogEntry(seq: 2, time: isoTimestamp(1_700_000_002), level: .warn, message: "two", node: nil),
                LogEntry(seq: 3, time: isoTimestamp(1_700_000_003.5), level: .error, message: "three", node: 2),
            ])
            // a later version of a node replaces the earlier one
            let s3done = StepRecord(id: 3, parent: 1, kind: .branch, name: "left", status: .succeeded, attempts: 0,
                                    startedAt: 1_700_000_012, finishedAt: 1_700_000_013, result: "42")
            store.record(step: s3done, run: "r")
            try await store.flush()
            #expect(try await store.steps(of: "r") == [s1, s2, s3done, s4])
            // another run's records are not mixed in
            #expect(try await store.steps(of: "other") == [])
            #expect(try await store.logs(of: "other", after: 0, limit: 10) == [])
        }
    }

    // 2.
    @Test("markRunning only starts a queued run")
    func markRunningOnlyQueued() async throws {
        try await withStore { store, _ in
            try await store.insert(row("done"))
            try await store.end("done", .cancelled, at: 1_700_000_009)
            store.markRunning("done", at: 1_700_000_010)
            try await store.flush()
            let run = try #require(try await store.run("done"))
            #expect(run.status == .cancelled)
            #expect(run.startedAt == nil)  // it never ran; a late markRunning does not change that
        }
    }

    // 2.
    @Test("logs(after:limit:) pages through the log")
    func logPaging() async throws {
        try await withStore { store, _ in
            try await store.insert(row("r", status: .running, startedAt: 1_700_000_001))
            try await store.insert(row("other", status: .running, startedAt: 1_700_000_001))
            for seq in 1...10 {
                store.record(log: log("line \(seq)", time: 1_700_000_000 + Double(seq)), seq: seq, run: "r")
                store.record(log: log("other \(seq)"), seq: seq, run: "other")
            }
            try await store.flush()

            func page(_ after: Int, _ limit: Int) async throws -> [Int] {
                try await store.logs(of: "r", after: after, limit: limit).map(\.seq)
            }
            #expect(try await page(0, 4) == [1, 2, 3, 4])
            #expect(try await page(4, 4) == [5, 6, 7, 8])
            #expect(try await page(8, 4) == [9, 10])
            #expect(try await page(10, 4) == [])
            #expect(try await page(3, 1) == [4])
            #expect(try await page(0, 100) == Array(1...10))
            let messages = try await store.logs(of: "r", after: 6, limit: 2).map(\.message)
            #expect(messages == ["line 7", "line 8"])
        }
    }

    // 3.
    @Test("finish writes the outcome and upserts the final steps")
    func finishWritesOutcome() async throws {
        try await withStore { store, _ in
            try await store.insert(row("r"))
            store.markRunning("r", at: 1_700_000_001)
            let early1 = step(1, name: "build", status: .running, attempts: 1)
            let early2 = step(2, name: "test", status: .running, attempts: 2)
            store.record(step: early1, run: "r")
            store.record(step: early2, run: "r")
            try await store.flush()

            let final1 = step(1, name: "build", status: .succeeded, attempts: 1, finishedAt: 1_700_000_020, result: #"{"ok":true}"#)
            let final3 = step(3, parent: 1, name: "cleanup", status: .failed, attempts: 1, startedAt: 1_700_000_021,
                              finishedAt: 1_700_000_022)
            try await store.end(
                "r", .failed, at: 1_700_000_030.5, result: nil, error: #"{"code":"step_failed","message":"test failed"}"#,
                compensationErrors: #"[{"message":"undo failed"}]"#, steps: [final1, final3])

            let run = try #require(try await store.run("r"))
            #expect(run.status == .failed)
            #expect(run.startedAt == 1_700_000_001)
            #expect(run.finishedAt == 1_700_000_030.5)
            #expect(run.result == nil)
            #expect(run.error == #"{"code":"step_failed","message":"test failed"}"#)
            #expect(run.compensationErrors == #"[{"message":"undo failed"}]"#)
            #expect(run.summary.error == "test failed")
            // node 1 replaced, node 2 (not in the final list) kept as it was, node 3 added
            #expect(try await store.steps(of: "r") == [final1, early2, final3])

            // a successful run keeps its result
            try await store.insert(row("ok"))
            try await store.end("ok", .succeeded, at: 1_700_000_040, result: #"[1,2,3]"#)
            let ok = try #require(try await store.run("ok"))
            #expect(ok.status == .succeeded)
            #expect(ok.result == #"[1,2,3]"#)
            #expect(ok.error == nil)
            #expect(ok.compensationErrors == nil)
            #expect(ok.finishedAt == 1_700_000_040)
            // a queued run that ends without starting has no start time
            #expect(ok.startedAt == nil)
        }
    }

    // 4.
    @Test("recover: running runs become interrupted, their running steps cancelled; queued runs returned oldest first")
    func recover() async throws {
        try await withStore { store, _ in
            try await store.insert(row("q1"))
            try await store.insert(row("run1", status: .running, startedAt: 1_700_000_001))
            try await store.insert(row("q2"))
            try await store.insert(row("done"))
            try await store.insert(row("run2"))
            try await store.insert(row("q3"))
            store.markRunning("run2", at: 1_700_000_002)
            let runningStep = step(1, status: .running)
            let finishedStep = step(2, status: .succeeded, finishedAt: 1_700_000_011, result: "1")
            store.record(step: runningStep, run: "run1")
            store.record(step: finishedStep, run: "run1")
            store.record(step: runningStep, run: "run2")
            // a finished run with a step still marked running (never touched by recovery)
            try await store.end("done", .succeeded, at: 1_700_000_050, result: "true", steps: [runningStep])
            let doneBefore = try #require(try await store.run("done"))

            let (interrupted, queued) = try await store.recover(at: 1_700_000_500)
            #expect(interrupted == ["run1", "run2"])
            #expect(queued.map(\.id) == ["q1", "q2", "q3"])
            #expect(queued.allSatisfy { $0.status == .queued })
            #expect(queued.first == row("q1"))

            for id in ["run1", "run2"] {
                let run = try #require(try await store.run(id))
                #expect(run.status == .interrupted)
                #expect(run.finishedAt == 1_700_000_500)
                #expect(JSONValue(text: run.error)?["code"]?.string == "interrupted")
                #expect(run.summary.error != nil)
            }
            #expect(try await store.run("run1")?.startedAt == 1_700_000_001)
            var cancelled = runningStep
            cancelled.status = .cancelled
            cancelled.finishedAt = 1_700_000_500
            #expect(try await store.steps(of: "run1") == [cancelled, finishedStep])
            #expect(try await store.steps(of: "run2") == [cancelled])
            // queued and finished runs untouched
            for id in ["q1", "q2", "q3"] {
                #expect(try await store.run(id)?.status == .queued)
                #expect(try await store.run(id)?.finishedAt == nil)
            }
            #expect(try await store.run("done") == doneBefore)
            #expect(try await store.steps(of: "done") == [runningStep])

            // a second recovery finds nothing left running
            let again = try await store.recover(at: 1_700_000_600)
            #expect(again.interrupted == [])
            #expect(again.queued.map(\.id) == ["q1", "q2", "q3"])
            #expect(try await store.run("run1")?.finishedAt == 1_700_000_500)
        }
    }

    // 4.
    @Test("after a crash (store never closed) a second store on the same file sees every durable write")
    func crashRecovery() async throws {
        try await withTemporaryDirectory { dir in
            let path = dir + "/state.sqlite"
            let first = try SQLiteStore(path: path, keepRuns: 10)
            try await first.insert(row("q", flow: "a"))
            try await first.insert(row("r", flow: "a", status: .running, startedAt: 1_700_000_001))
            try await first.insert(row("s", flow: "b"))
            try await first.end("s", .succeeded, at: 1_700_000_009, result: #""done""#)
            let s = step(1, status: .running)
            first.record(step: s, run: "r")
            first.record(log: log("hello", node: 1), seq: 1, run: "r")
            try await first.flush()
            try first.set(flow: "a", key: "k", value: "1")
            // `first` is not closed: as after kill -9, the second opener finds the database as left

            let second = try SQLiteStore(path: path, keepRuns: 10)
            #expect(try await second.run("q") == row("q", flow: "a"))
            #expect(try await second.run("s")?.result == #""done""#)
            #expect(try await second.steps(of: "r") == [s])
            #expect(try await second.logs(of: "r", after: 0, limit: 10).map(\.message) == ["hello"])
            #expect(try second.get(flow: "a", key: "k") == "1")
            let (interrupted, queued) = try await second.recover(at: 1_700_000_100)
            #expect(interrupted == ["r"])
            #expect(queued.map(\.id) == ["q"])
            #expect(try await second.run("r")?.status == .interrupted)
            #expect(try await second.steps(of: "r").map(\.status) == [.cancelled])
            // the new daemon keeps writing
            try await second.insert(row("next", flow: "a"))
            #expect(try await second.ids(RunFilter(flow: "a")) == ["next", "r", "q"])
            try await second.close()
            try await first.close()
        }
    }

    // 5.
    @Test("retention keeps the newest finished runs per flow; their steps and logs go with them")
    func retention() async throws {
        try await withStore(keepRuns: 3) { store, _ in
            // the oldest runs of "a" stay queued or running: never pruned
            try await store.insert(row("aQ", flow: "a"))
            try await store.insert(row("aR", flow: "a", status: .running, startedAt: 1_700_000_001))
            for i in 1...5 {
                try await store.insert(row("a\(i)", flow: "a"))
                store.record(step: step(1), run: "a\(i)")
                store.record(log: log("a\(i) says hi"), seq: 1, run: "a\(i)")
            }
            for i in 1...2 { try await store.insert(row("b\(i)", flow: "b")) }
            try await store.flush()

            for i in 1...5 {
                try await store.end("a\(i)", .succeeded, at: 1_700_000_100 + Double(i), steps: [step(1, status: .succeeded)])
            }
            try await store.end("b1", .failed, at: 1_700_000_101)
            try await store.end("b2", .succeeded, at: 1_700_000_102)

            #expect(try await store.ids(RunFilter(flow: "a", limit: 100)) == ["a5", "a4", "a3", "aR", "aQ"])
            #expect(try await store.ids(RunFilter(flow: "b", limit: 100)) == ["b2", "b1"])
            for gone in ["a1", "a2"] {
                #expect(try await store.run(gone) == nil)
                #expect(try await store.steps(of: gone) == [])
                #expect(try await store.logs(of: gone, after: 0, limit: 10) == [])
            }
            for kept in ["a3", "a4", "a5"] {
                #expect(try await store.steps(of: kept).map(\.status) == [.succeeded])
                #expect(try await store.logs(of: kept, after: 0, limit: 10).map(\.message) == ["\(kept) says hi"])
            }
            #expect(try await store.run("aQ")?.status == .queued)
            #expect(try await store.run("aR")?.status == .running)

            // one more finish of "a" drops exactly one more, the oldest finished
            try await store.insert(row("a6", flow: "a"))
            try await store.end("a6", .failed, at: 1_700_000_200)
            #expect(try await store.ids(RunFilter(flow: "a", limit: 100)) == ["a6", "a5", "a4", "aR", "aQ"])
            #expect(try await store.ids(RunFilter(flow: "b", limit: 100)) == ["b2", "b1"])
        }
    }

    @Test("retention counts by finish time: a long run that finishes after newer ones is kept")
    func retentionKeepsLongRun() async throws {
        try await withStore(keepRuns: 3) { store, _ in
            try await store.insert(row("long", flow: "a", status: .running, startedAt: 1_700_000_001))
            for i in 1...3 {
                try await store.insert(row("x\(i)", flow: "a"))
                try await store.end("x\(i)", at: 1_700_000_100 + Double(i))
            }
            try await store.end("long", at: 1_700_000_500)
            #expect(try await store.run("long")?.status == .succeeded)
            #expect(try await store.ids(RunFilter(flow: "a", limit: 100)) == ["x3", "x2", "long"])
        }
    }

    // 6.
    @Test("kv: get, set, overwrite, delete, scoped per flow")
    func keyValue() async throws {
        try await withStore { store, _ in
            #expect(try store.get(flow: "a", key: "k") == nil)
            try store.set(flow: "a", key: "k", value: #"{"n":1}"#)
            try store.set(flow: "b", key: "k", value: #""bee""#)
            #expect(try store.get(flow: "a", key: "k") == #"{"n":1}"#)
            #expect(try store.get(flow: "b", key: "k") == #""bee""#)
            #expect(try store.get(flow: "c", key: "k") == nil)
            #expect(try store.get(flow: "a", key: "K") == nil)

            try store.set(flow: "a", key: "k", value: "2")
            #expect(try store.get(flow: "a", key: "k") == "2")
            #expect(try store.get(flow: "b", key: "k") == #""bee""#)

            try store.delete(flow: "a", key: "k")
            #expect(try store.get(flow: "a", key: "k") == nil)
            #expect(try store.get(flow: "b", key: "k") == #""bee""#)
            // deleting what is not there is not an error
            try store.delete(flow: "a", key: "k")
            try store.delete(flow: "zzz", key: "nothing")
            // set again after delete
            try store.set(flow: "a", key: "k", value: "3")
            #expect(try store.get(flow: "a", key: "k") == "3")
        }
    }

    // 7.
    @Test("a failing durable write fails its own caller only, not the rest of its group commit")
    func failureIsolation() async throws {
        try await withStore { store, _ in
            try await store.insert(row("dup", flow: "original"))
            // keep the writer thread busy so the burst below queues up and is committed in few transactions
            try await store.insert(row("chatty", status: .running, startedAt: 1_700_000_001))
            for seq in 1...2000 { store.record(log: log("line \(seq)"), seq: seq, run: "chatty") }

            let ids = (0..<50).map { $0 == 25 ? "dup" : "burst-\($0)" }
            let outcomes = await withTaskGroup(of: (String, Result<Void, any Error>).self) { group in
                for id in ids {
                    group.addTask {
                        do {
                            try await store.insert(row(id, flow: "burst"))
                            return (id, .success(()))
                        } catch {
                            return (id, .failure(error))
                        }
                    }
                }
                var out: [String: Result<Void, any Error>] = [:]
                for await (id, result) in group { out[id] = result }
                return out
            }

            #expect(outcomes.count == 50)
            let failed = outcomes.filter { if case .failure = $0.value { true } else { false } }
            #expect(failed.keys.sorted() == ["dup"])
            if case .failure(let error)? = outcomes["dup"] {
                let storeError = try #require(error as? StoreError)
                #expect(storeError.message.contains("could not write the run history"))
                #expect(storeError.message.contains("UNIQUE"))
            }
            for id in ids where id != "dup" {
                #expect(try await store.run(id)?.flow == "burst", "run \(id) missing")
            }
            #expect(try await store.ids(RunFilter(flow: "burst", limit: 100)).count == 49)
            // the original row is untouched
            #expect(try await store.run("dup") == row("dup", flow: "original"))
            // the posted writes committed alongside are all there, and the writer still works
            try await store.flush()
            #expect(try await store.logs(of: "chatty", after: 0, limit: 5000).count == 2000)
            try await store.insert(row("after"))
            #expect(try await store.run("after") != nil)
        }
    }

    // 7.
    @Test("two concurrent inserts of one new id: exactly one wins")
    func concurrentSameID() async throws {
        try await withStore { store, _ in
            let results = await withTaskGroup(of: Bool.self) { group in
                for flow in ["x", "y"] {
                    group.addTask { (try? await store.insert(row("same", flow: flow))) != nil }
                }
                return await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.count == 2)
            #expect(results.filter { $0 }.count == 1)
            let flow = try await store.run("same")?.flow
            #expect(flow == "x" || flow == "y")
        }
    }

    // 7.
    @Test("durable writes after close() throw StoreError")
    func writeAfterClose() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteStore(path: dir + "/state.sqlite", keepRuns: 10)
            try await store.insert(row("r"))
            try await store.close()
            await #expect(throws: StoreError.self) { try await store.insert(row("s")) }
            await #expect(throws: StoreError.self) { try await store.flush() }
            // what was committed before closing is on disk
            let reopened = try SQLiteStore(path: dir + "/state.sqlite", keepRuns: 10)
            #expect(try await reopened.run("r") == row("r"))
            #expect(try await reopened.run("s") == nil)
            try await reopened.close()
        }
    }

    // 8.
    @Test("lastRuns(of:) returns the newest run of each flow asked for")
    func lastRuns() async throws {
        try await withStore { store, _ in
            try await store.insert(row("a1", flow: "a"))
            try await store.insert(row("b1", flow: "b"))
            try await store.insert(row("a2", flow: "a", queuedAt: 1_600_000_000))  // newer, despite an older timestamp
            try await store.insert(row("c1", flow: "c"))
            try await store.end("a2", .failed, at: 1_700_000_077, error: #"{"message":"nope"}"#)

            let last = try await store.lastRuns(of: ["a", "b", "missing"])
            #expect(Set(last.keys) == ["a", "b"])
            #expect(last["a"]?.id == "a2")
            #expect(last["a"]?.status == .failed)
            #expect(last["a"]?.finishedAt == 1_700_000_077)
            #expect(last["b"] == row("b1", flow: "b"))
            #expect(try await store.lastRuns(of: []).isEmpty)
            #expect(try await store.lastRuns(of: ["c"])["c"]?.id == "c1")
        }
    }

    // 9.
    @Test("opening under a regular file throws a StoreError naming the path")
    func openUnderFile() async throws {
        try await withTemporaryDirectory { dir in
            let file = dir + "/not-a-directory"
            #expect(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
            let path = file + "/state.sqlite"
            let error = #expect(throws: StoreError.self) { _ = try SQLiteStore(path: path, keepRuns: 10) }
            #expect(error?.message.contains(path) == true, "\(String(describing: error?.message))")
            #expect(error?.description == error?.message)
        }
    }

    // 9.
    @Test("opening in an unwritable directory throws a StoreError naming the path",
          .enabled(if: getuid() != 0, "root can write anywhere; see openUnderFile"))
    func openUnwritable() async throws {
        try await withTemporaryDirectory { dir in
            let locked = dir + "/locked"
            try FileManager.default.createDirectory(atPath: locked, withIntermediateDirectories: false)
            #expect(chmod(locked, 0o500) == 0)
            defer { chmod(locked, 0o700) }
            let path = locked + "/state.sqlite"
            let error = #expect(throws: StoreError.self) { _ = try SQLiteStore(path: path, keepRuns: 10) }
            #expect(error?.message.contains(path) == true, "\(String(describing: error?.message))")
        }
    }

    @Test("schedule watermarks: stored with a run in one insert, only moving forward, forgotten with their schedule")
    func scheduleMarks() async throws {
        try await withStore { store, _ in
            let a = ScheduleMark(flow: "backup", schedule: "0 3 * * *", firedAt: 1_700_000_000)
            try await store.insert([(row("run-1", flow: "backup"), a), (row("run-2", flow: "other"), nil)])
            #expect(try await store.run("run-1") != nil)
            #expect(try await store.run("run-2") != nil)
            #expect(try await store.marks() == [a])
            // an older instant written late changes nothing; a newer one moves it
            try await store.setMark(ScheduleMark(flow: "backup", schedule: "0 3 * * *", firedAt: 1_600_000_000))
            #expect(try await store.marks() == [a])
            let later = ScheduleMark(flow: "backup", schedule: "0 3 * * *", firedAt: 1_700_086_400)
            let b = ScheduleMark(flow: "backup", schedule: "@hourly", firedAt: 1_700_000_000)
            try await store.setMark(later)
            try await store.setMark(b)
            #expect(Set(try await store.marks()) == [later, b])
            try await store.forget(marks: [ScheduleMark(flow: "backup", schedule: "0 3 * * *", firedAt: 0)])
            #expect(try await store.marks() == [b])
        }
    }
}

@Suite("SQLiteStore start times")
struct StartTimeTests {
    @Test("finish records when the run really started, over the launch time")
    func engineStart() async throws {
        try await withStore { store, _ in
            try await store.insert(row("r", status: .running, startedAt: 1_700_000_001))
            try await store.finish("r", status: .succeeded, startedAt: 1_700_000_001.25, at: 1_700_000_002, result: "1",
                                   error: nil, compensationErrors: nil, steps: [])
            #expect(try await store.run("r")?.startedAt == 1_700_000_001.25)
        }
    }
}
