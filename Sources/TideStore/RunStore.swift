// RunStore.swift: what the daemon needs from a run history; SQLiteStore is one backend.
import TideProtocol

/// One run as the history keeps it.
public struct RunRow: Sendable, Equatable {
    public var id: String
    public var flow: String
    /// The script the run was started from (relative to `flows/`), if known.
    public var file: String?
    public var status: RunStatus
    /// `manual`, `schedule`, `catchup` or `event`.
    public var trigger: String
    /// JSON text of the payload.
    public var payload: String?
    public var scheduledAt: String?
    /// JSON text of the triggering run's summary (event triggers).
    public var event: String?
    /// Wall-clock seconds since the epoch.
    public var queuedAt: Double
    public var startedAt: Double?
    public var finishedAt: Double?
    /// JSON texts.
    public var result: String?
    public var error: String?
    public var compensationErrors: String?

    /// Creates a row.
    public init(id: String, flow: String, file: String? = nil, status: RunStatus, trigger: String, payload: String? = nil,
                scheduledAt: String? = nil, event: String? = nil, queuedAt: Double, startedAt: Double? = nil,
                finishedAt: Double? = nil, result: String? = nil, error: String? = nil, compensationErrors: String? = nil) {
        self.id = id
        self.flow = flow
        self.file = file
        self.status = status
        self.trigger = trigger
        self.payload = payload
        self.scheduledAt = scheduledAt
        self.event = event
        self.queuedAt = queuedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.error = error
        self.compensationErrors = compensationErrors
    }

    /// The run's summary, as `runs.list` and notifications show it.
    public var summary: RunSummary {
        RunSummary(
            runID: id, flow: flow, status: status, trigger: trigger, queuedAt: isoTimestamp(queuedAt),
            startedAt: startedAt.map(isoTimestamp), finishedAt: finishedAt.map(isoTimestamp),
            durationMilliseconds: startedAt.flatMap { s in finishedAt.map { (($0 - s) * 1e6).rounded() / 1000 } },
            error: JSONValue(text: error)?["message"]?.string, scheduledAt: scheduledAt)
    }

    /// The run's report (SPEC §6 shape) with `steps`.
    public func report(steps: [StepRecord]) -> RunReport {
        RunReport(
            runID: id, flow: flow, status: status, result: result, error: error, compensationErrors: compensationErrors,
            steps: steps, startedAt: startedAt ?? queuedAt, finishedAt: finishedAt, trigger: trigger)
    }
}

/// Which runs to list.
public struct RunFilter: Sendable {
    public var flow: String?
    public var status: RunStatus?
    public var limit: Int

    /// Creates a filter (newest first, at most `limit`).
    public init(flow: String? = nil, status: RunStatus? = nil, limit: Int = 20) {
        self.flow = flow
        self.status = status
        self.limit = limit
    }
}

/// The run history, logs and key-value store of a daemon.
///
/// Calls marked *durable* return once the change is committed, so a crash right after loses
/// nothing; calls marked *posted* return at once, and are committed in order with the others
/// shortly after (``flush()`` waits for them).
/// The last instant a schedule of a flow fired (or skipped on purpose), in seconds since 1970.
public struct ScheduleMark: Sendable, Equatable, Hashable {
    public var flow: String
    /// The schedule string as the flow writes it.
    public var schedule: String
    public var firedAt: Double

    public init(flow: String, schedule: String, firedAt: Double) {
        self.flow = flow
        self.schedule = schedule
        self.firedAt = firedAt
    }
}

public protocol RunStore: KeyValueStore {
    /// At start-up: runs left `running` by a daemon that died become `interrupted`; returns the
    /// ids of those, and the runs still queued, oldest first.
    func recover(at time: Double) async throws -> (interrupted: [String], queued: [RunRow])
    /// Records a new run (queued or running) and, for a scheduled run, its schedule's new
    /// watermark in the same transaction: a restart never fires that instant again, and never
    /// forgets a run it acknowledged. Durable.
    func insert(_ run: RunRow, mark: ScheduleMark?) async throws
    /// Records several new runs (with their watermarks) in one transaction. Durable.
    func insert(_ runs: [(RunRow, ScheduleMark?)]) async throws
    /// Moves a schedule's watermark without a run (an instant skipped on purpose). Durable.
    func setMark(_ mark: ScheduleMark) async throws
    /// Drops the watermarks of schedules that are gone (`firedAt` is ignored). Durable.
    func forget(marks: [ScheduleMark]) async throws
    /// Every schedule's watermark.
    func marks() async throws -> [ScheduleMark]
    /// A queued run starts. Posted.
    func markRunning(_ id: String, at time: Double)
    /// A node of a run started, progressed or finished. Posted.
    func record(step: StepRecord, run id: String)
    /// A line of a run's log, `seq` counting from 1 in each run. Posted.
    func record(log: LogLine, seq: Int, run id: String)
    /// A run ended (or a queued run was cancelled): its status, when it really started (nil for
    /// a run that never executed), result, error and final steps. Durable.
    func finish(_ id: String, status: RunStatus, startedAt: Double?, at time: Double, result: String?, error: String?,
                compensationErrors: String?, steps: [StepRecord]) async throws
    /// Waits until every posted change is committed.
    func flush() async throws

    /// One run.
    func run(_ id: String) async throws -> RunRow?
    /// A run's nodes, in start order.
    func steps(of id: String) async throws -> [StepRecord]
    /// A run's log lines after `seq`, at most `limit`.
    func logs(of id: String, after seq: Int, limit: Int) async throws -> [LogEntry]
    /// Recent runs, newest first.
    func runs(_ filter: RunFilter) async throws -> [RunRow]
    /// The newest run of each of `flows`.
    func lastRuns(of flows: [String]) async throws -> [String: RunRow]
    /// Closes the store after committing what was posted.
    func close() async throws
}

extension RunStore {
    /// Records a new run that no schedule fired.
    public func insert(_ run: RunRow) async throws {
        try await insert(run, mark: nil)
    }
}
