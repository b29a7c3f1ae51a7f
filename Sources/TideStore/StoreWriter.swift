// StoreWriter.swift: one thread that commits every waiting write in one transaction.
import Foundation
import GRDB
import TideProtocol

/// A write to the history.
enum StoreWrite: Sendable {
    /// A new run, and with a scheduled one the schedule's new watermark, in one transaction.
    case insert(RunRow, ScheduleMark?)
    /// New runs at once (a schedule's instant), in one transaction.
    case insertMany([(RunRow, ScheduleMark?)])
    /// A schedule's watermark moved without a run (an instant skipped).
    case mark(ScheduleMark)
    /// Schedules that left the plan (flow deleted or renamed, schedule text changed).
    case forgetMarks([ScheduleMark])
    case markRunning(String, Double)
    case step(String, StepRecord)
    case log(String, Int, LogLine)
    case finish(StoredFinish)
    /// Nothing: completes when everything before it is committed.
    case barrier
}

/// Serialises writes on one thread and commits them in batches ("group commit").
///
/// Writes from many callers that arrive while a commit is in progress go into the next
/// transaction together; a durable caller resumes after the transaction holding its write is
/// committed. A write that fails (a constraint, a full disk) fails its own caller only.
final class StoreWriter: @unchecked Sendable {
    private typealias Pending = (write: StoreWrite, done: CheckedContinuation<Void, any Error>?)

    private let pool: DatabasePool
    private let keepRuns: Int
    private let condition = NSCondition()
    // guarded by `condition`
    private var pending: [Pending] = []
    private var stopped = false
    // the writer thread's own
    private var finishesSincePrune: [String: Int] = [:]

    init(pool: DatabasePool, keepRuns: Int) {
        self.pool = pool
        self.keepRuns = keepRuns
        let thread = Thread { [self] in loop() }
        thread.name = "tide-store-writer"
        thread.start()
    }

    /// Queues a write and returns at once.
    func post(_ write: StoreWrite) {
        condition.lock()
        guard !stopped else {
            condition.unlock()
            return  // the daemon is past recording: only writes of runs cancelled at exit come here
        }
        pending.append((write, nil))
        condition.signal()
        condition.unlock()
    }

    /// Queues a write and returns once it is committed.
    func durable(_ write: StoreWrite) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            condition.lock()
            if stopped {
                condition.unlock()
                done.resume(throwing: StoreError("the state database is closed"))
                return
            }
            pending.append((write, done))
            condition.signal()
            condition.unlock()
        }
    }

    /// Returns once everything queued before is committed.
    func flush() async throws {
        try await durable(.barrier)
    }

    /// Stops the thread after the writes already queued.
    func stop() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopped { condition.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let done = stopped && batch.isEmpty
            condition.unlock()
            if done { return }
            commit(batch)
        }
    }

    private func commit(_ batch: [Pending]) {
        var failures: [Int: any Error] = [:]
        var finishedRuns: [(flow: String, id: String)] = []
        do {
            try pool.write { db in
                for (i, item) in batch.enumerated() {
                    do {
                        if let flow = try apply(item.write, db), case .finish(let f) = item.write { finishedRuns.append((flow, f.id)) }
                    } catch {
                        failures[i] = error
                    }
                }
                for run in finishedRuns { try pruneIfDue(run.flow, keeping: run.id, db) }
            }
        } catch {
            // the transaction itself failed (disk full, database gone): every write in it failed
            for i in batch.indices where failures[i] == nil { failures[i] = error }
            FileHandle.standardError.write(Data("tide: could not write the run history: \(SQLiteStore.describe(error))\n".utf8))
        }
        for (i, item) in batch.enumerated() {
            guard let done = item.done else { continue }
            if let error = failures[i] {
                done.resume(throwing: StoreError("could not write the run history: \(SQLiteStore.describe(error))"))
            } else {
                done.resume()
            }
        }
    }

    /// Applies one write; returns the flow of a finished run.
    private func apply(_ write: StoreWrite, _ db: Database) throws -> String? {
        switch write {
        case .insertMany(let rows):
            for (row, mark) in rows { _ = try apply(.insert(row, mark), db) }
        case .insert(let r, let mark):
            try db.cachedStatement(sql: """
                INSERT INTO runs (id, flow, file, status, trigger, payload, scheduled_at, event, queued_at, started_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [r.id, r.flow, r.file, r.status.rawValue, r.trigger, r.payload, r.scheduledAt, r.event,
                                 r.queuedAt, r.startedAt])
            if let mark { try upsert(mark, db) }
        case .mark(let mark):
            try upsert(mark, db)
        case .forgetMarks(let marks):
            for mark in marks {
                try db.cachedStatement(sql: "DELETE FROM schedule_marks WHERE flow = ? AND schedule = ?")
                    .execute(arguments: [mark.flow, mark.schedule])
            }
        case .markRunning(let id, let time):
            try db.cachedStatement(sql: "UPDATE runs SET status = 'running', started_at = ? WHERE id = ? AND status = 'queued'")
                .execute(arguments: [time, id])
        case .step(let id, let s):
            try upsert(s, run: id, db)
        case .log(let id, let seq, let line):
            try db.cachedStatement(sql: "INSERT OR IGNORE INTO logs (run_id, seq, time, level, message, node) VALUES (?, ?, ?, ?, ?, ?)")
                .execute(arguments: [id, seq, line.time, line.level.rawValue, line.message, line.node])
        case .finish(let f):
            try db.cachedStatement(sql: """
                UPDATE runs SET status = ?, finished_at = ?, started_at = COALESCE(?, started_at), result = ?, error = ?,
                compensation_errors = ? WHERE id = ?
                """).execute(arguments: [f.status.rawValue, f.time, f.startedAt, f.result, f.error, f.compensationErrors, f.id])
            for s in f.steps { try upsert(s, run: f.id, db) }
            return try String.fetchOne(db.cachedStatement(sql: "SELECT flow FROM runs WHERE id = ?"), arguments: [f.id])
        case .barrier:
            break
        }
        return nil
    }

    /// Watermarks only move forward: a late write of an older instant changes nothing.
    private func upsert(_ mark: ScheduleMark, _ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO schedule_marks (flow, schedule, fired_at) VALUES (?, ?, ?)
            ON CONFLICT (flow, schedule) DO UPDATE SET fired_at = max(fired_at, excluded.fired_at)
            """).execute(arguments: [mark.flow, mark.schedule, mark.firedAt])
    }

    private func upsert(_ s: StepRecord, run id: String, _ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO steps (run_id, node, parent, kind, name, primitive, status, attempts, started_at,
            finished_at, result, error, total, done) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [id, s.id, s.parent, s.kind.rawValue, s.name, s.primitive, s.status.rawValue, s.attempts,
                             s.startedAt, s.finishedAt, s.result, s.error, s.total, s.done])
    }

    /// Keeps the `keepRuns` runs of `flow` that finished last, and always the run `keeping`
    /// that just finished (checked every few finishes: the delete scans the flow's index).
    private func pruneIfDue(_ flow: String, keeping id: String, _ db: Database) throws {
        let count = (finishesSincePrune[flow] ?? 0) + 1
        guard count >= max(1, keepRuns / 32) else {
            finishesSincePrune[flow] = count
            return
        }
        finishesSincePrune[flow] = 0
        try db.cachedStatement(sql: """
            DELETE FROM runs WHERE flow = ? AND id != ? AND finished_at IS NOT NULL AND finished_at <
            (SELECT finished_at FROM runs WHERE flow = ? AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT 1 OFFSET ?)
            """).execute(arguments: [flow, id, flow, max(0, keepRuns - 1)])
    }
}
