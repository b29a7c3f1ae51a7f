// SQLiteStore.swift: the run history in SQLite (WAL) through GRDB, with group commit of writes.
import Foundation
import GRDB
import TideProtocol

/// The store's error: what failed and what to do about it.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }

    /// Creates an error.
    public init(_ message: String) {
        self.message = message
    }
}

/// A ``RunStore`` in one SQLite database in WAL mode.
///
/// Writes go through one writer thread that commits everything waiting in one transaction
/// ("group commit"): a burst of `run.start`s from many clients costs one sync, and each caller
/// of a durable write resumes only after its transaction is on disk.
public final class SQLiteStore: RunStore {
    private let pool: DatabasePool
    private let writer: StoreWriter
    private let path: String
    /// Runs kept per flow (SPEC §8: 1000).
    public let keepRuns: Int

    /// Opens (creating if needed) the database at `path`.
    public init(path: String, keepRuns: Int = 1000) throws {
        var configuration = Configuration()
        configuration.label = "tide"
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // A commit is on disk before its durable caller resumes (SPEC §7: an acknowledged
            // run is never lost), also across power loss, not only a crash of the daemon.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw StoreError("cannot open the state database \(path): \(Self.describe(error))")
        }
        self.keepRuns = keepRuns
        self.path = path
        writer = StoreWriter(pool: pool, keepRuns: keepRuns)
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? DatabaseError { return e.message ?? "\(e.resultCode)" }
        return "\(error)"
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    flow TEXT NOT NULL,
                    file TEXT,
                    status TEXT NOT NULL,
                    trigger TEXT NOT NULL,
                    payload TEXT,
                    scheduled_at TEXT,
                    event TEXT,
                    queued_at REAL NOT NULL,
                    started_at REAL,
                    finished_at REAL,
                    result TEXT,
                    error TEXT,
                    compensation_errors TEXT
                );
                CREATE INDEX runs_by_flow ON runs(flow, seq);
                CREATE INDEX runs_by_status ON runs(status, seq);
                CREATE INDEX runs_by_finish ON runs(flow, finished_at);
                CREATE TABLE steps (
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    node INTEGER NOT NULL,
                    parent INTEGER,
                    kind TEXT NOT NULL,
                    name TEXT NOT NULL,
                    primitive TEXT,
                    status TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    started_at REAL NOT NULL,
                    finished_at REAL,
                    result TEXT,
                    error TEXT,
                    total INTEGER,
                    done INTEGER,
                    PRIMARY KEY (run_id, node)
                ) WITHOUT ROWID;
                CREATE TABLE logs (
                    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    time REAL NOT NULL,
                    level TEXT NOT NULL,
                    message TEXT NOT NULL,
                    node INTEGER,
                    PRIMARY KEY (run_id, seq)
                ) WITHOUT ROWID;
                CREATE TABLE kv (
                    flow TEXT NOT NULL,
                    key TEXT NOT NULL,
                    value TEXT NOT NULL,
                    updated_at REAL NOT NULL,
                    PRIMARY KEY (flow, key)
                ) WITHOUT ROWID;
                """)
        }
        migrator.registerMigration("v2-schedule-marks") { db in
            // the last instant fired (or deliberately skipped) per schedule string of a flow
            try db.execute(sql: """
                CREATE TABLE schedule_marks (
                    flow TEXT NOT NULL,
                    schedule TEXT NOT NULL,
                    fired_at REAL NOT NULL,
                    PRIMARY KEY (flow, schedule)
                ) WITHOUT ROWID;
                """)
        }
        return migrator
    }

    // MARK: - Writes

    public func recover(at time: Double) async throws -> (interrupted: [String], queued: [RunRow]) {
        try await writer.flush()
        return try await pool.write { db in
            let interrupted = try String.fetchAll(db, sql: "SELECT id FROM runs WHERE status = 'running' ORDER BY seq")
            let error = #"{"code":"interrupted","message":"the daemon stopped while the run was in progress"}"#
            try db.execute(
                sql: "UPDATE runs SET status = 'interrupted', finished_at = ?, error = ? WHERE status = 'running'",
                arguments: [time, error])
            try db.execute(sql: """
                UPDATE steps SET status = 'cancelled', finished_at = ? WHERE status = 'running'
                AND run_id IN (SELECT id FROM runs WHERE status = 'interrupted')
                """, arguments: [time])
            let queued = try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE status = 'queued' ORDER BY seq").map(Self.runRow)
            return (interrupted, queued)
        }
    }

    public func insert(_ run: RunRow, mark: ScheduleMark?) async throws {
        try await writer.durable(.insert(run, mark))
    }

    public func insert(_ runs: [(RunRow, ScheduleMark?)]) async throws {
        guard !runs.isEmpty else { return }
        try await writer.durable(.insertMany(runs))
    }

    public func forget(marks: [ScheduleMark]) async throws {
        guard !marks.isEmpty else { return }
        try await writer.durable(.forgetMarks(marks))
    }

    public func setMark(_ mark: ScheduleMark) async throws {
        try await writer.durable(.mark(mark))
    }

    public func marks() async throws -> [ScheduleMark] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT flow, schedule, fired_at FROM schedule_marks").map {
                ScheduleMark(flow: $0["flow"], schedule: $0["schedule"], firedAt: $0["fired_at"])
            }
        }
    }

    public func markRunning(_ id: String, at time: Double) {
        writer.post(.markRunning(id, time))
    }

    public func record(step: StepRecord, run id: String) {
        writer.post(.step(id, step))
    }

    public func record(log: LogLine, seq: Int, run id: String) {
        writer.post(.log(id, seq, log))
    }

    public func finish(_ id: String, status: RunStatus, startedAt: Double?, at time: Double, result: String?, error: String?,
                       compensationErrors: String?, steps: [StepRecord]) async throws {
        try await writer.durable(.finish(StoredFinish(
            id: id, status: status, startedAt: startedAt, time: time, result: result, error: error,
            compensationErrors: compensationErrors, steps: steps)))
    }

    public func flush() async throws {
        try await writer.flush()
    }

    /// Commits what is waiting and closes the database. The pool's readers are read-only and
    /// cannot fold the write-ahead log back into the database when the last of them closes, so
    /// one read-write connection, opened and closed last, does (`-wal` and `-shm` are then gone).
    /// Throws when that fails (the WAL then stays, and SQLite applies it at the next start).
    public func close() async throws {
        var unwritten: (any Error)?
        do {
            try await writer.flush()
        } catch {
            unwritten = error  // closing goes on: the database must still be closed
        }
        writer.stop()
        try pool.close()
        try DatabaseQueue(path: path).close()
        if let unwritten {
            throw StoreError("the last writes could not be committed: \(Self.describe(unwritten))")
        }
    }

    // MARK: - Reads

    public func run(_ id: String) async throws -> RunRow? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM runs WHERE id = ?", arguments: [id]).map(Self.runRow)
        }
    }

    public func steps(of id: String) async throws -> [StepRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM steps WHERE run_id = ? ORDER BY node", arguments: [id]).map { r in
                StepRecord(
                    id: r["node"], parent: r["parent"], kind: StepRecord.Kind(rawValue: r["kind"]) ?? .step, name: r["name"],
                    primitive: r["primitive"], status: NodeStatus(rawValue: r["status"]) ?? .running, attempts: r["attempts"],
                    startedAt: r["started_at"], finishedAt: r["finished_at"], result: r["result"], error: r["error"],
                    total: r["total"], done: r["done"])
            }
        }
    }

    public func logs(of id: String, after seq: Int, limit: Int) async throws -> [LogEntry] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM logs WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?", arguments: [id, seq, limit]
            ).map { r in
                LogEntry(seq: r["seq"], time: isoTimestamp(r["time"]), level: LogLine.Level(rawValue: r["level"]) ?? .info,
                         message: r["message"], node: r["node"])
            }
        }
    }

    public func runs(_ filter: RunFilter) async throws -> [RunRow] {
        try await pool.read { db in
            var conditions: [String] = []
            var arguments: StatementArguments = []
            if let flow = filter.flow {
                conditions.append("flow = ?")
                arguments += [flow]
            }
            if let status = filter.status {
                conditions.append("status = ?")
                arguments += [status.rawValue]
            }
            let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            arguments += [filter.limit]
            return try Row.fetchAll(
                db, sql: "SELECT * FROM runs \(whereClause) ORDER BY seq DESC LIMIT ?", arguments: arguments
            ).map(Self.runRow)
        }
    }

    public func lastRuns(of flows: [String]) async throws -> [String: RunRow] {
        try await pool.read { db in
            var out: [String: RunRow] = [:]
            for flow in flows {
                if let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM runs WHERE flow = ? ORDER BY seq DESC LIMIT 1", arguments: [flow]) {
                    out[flow] = Self.runRow(row)
                }
            }
            return out
        }
    }

    static func runRow(_ r: Row) -> RunRow {
        RunRow(
            id: r["id"], flow: r["flow"], file: r["file"], status: RunStatus(rawValue: r["status"]) ?? .failed,
            trigger: r["trigger"], payload: r["payload"], scheduledAt: r["scheduled_at"], event: r["event"],
            queuedAt: r["queued_at"], startedAt: r["started_at"], finishedAt: r["finished_at"], result: r["result"],
            error: r["error"], compensationErrors: r["compensation_errors"])
    }

    // MARK: - Key-value store (called from a run's thread: blocking is fine there)

    public func get(flow: String, key: String) throws -> String? {
        try pool.read { db in
            try String.fetchOne(db, sql: "SELECT value FROM kv WHERE flow = ? AND key = ?", arguments: [flow, key])
        }
    }

    public func set(flow: String, key: String, value: String) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO kv (flow, key, value, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (flow, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                arguments: [flow, key, value, Date().timeIntervalSince1970])
        }
    }

    public func delete(flow: String, key: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM kv WHERE flow = ? AND key = ?", arguments: [flow, key])
        }
    }
}

/// The end of a run, as written.
struct StoredFinish: Sendable {
    var id: String
    var status: RunStatus
    var startedAt: Double?
    var time: Double
    var result: String?
    var error: String?
    var compensationErrors: String?
    var steps: [StepRecord]
}
