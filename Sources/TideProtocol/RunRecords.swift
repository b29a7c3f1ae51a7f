// RunRecords.swift: the records of a run: its outcome, its nodes (steps, groups, branches), its log.

/// The status of a run in the history: waiting in the queue, running, or finished one way.
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, succeeded, failed, cancelled
    /// The daemon stopped (or died) while the run was in progress.
    case interrupted

    /// Whether the run has ended.
    public var isFinished: Bool { self != .queued && self != .running }
}

/// The status of a run or of one node in its history.
public enum NodeStatus: String, Sendable, Codable {
    case running, succeeded, failed, cancelled
}

/// One node of a run's history: a step, a group (parallel, race, ...), a branch of a group, or a
/// compensation.
public struct StepRecord: Sendable, Codable, Equatable {
    /// What the node records.
    public enum Kind: String, Sendable, Codable {
        case step, group, branch, compensation
    }

    /// Unique within the run, in start order.
    public var id: Int
    /// The enclosing node (nil at the top of the run).
    public var parent: Int?
    public var kind: Kind
    /// The step's name, the group's `name` option (or its primitive), the branch's key.
    public var name: String
    /// For groups: the primitive (`parallel`, `race`, `any`, `batch`, `settle`).
    public var primitive: String?
    public var status: NodeStatus
    /// For steps: attempts made so far (the first included).
    public var attempts: Int
    /// Wall-clock seconds since the epoch.
    public var startedAt: Double
    public var finishedAt: Double?
    /// JSON text of the step's result (truncated at 64 KiB).
    public var result: String?
    /// JSON text describing the error.
    public var error: String?
    /// For groups: number of tasks or items, and how many finished.
    public var total: Int?
    public var done: Int?

    /// Creates a record.
    public init(id: Int, parent: Int?, kind: Kind, name: String, primitive: String? = nil, status: NodeStatus,
                attempts: Int = 0, startedAt: Double, finishedAt: Double? = nil, result: String? = nil,
                error: String? = nil, total: Int? = nil, done: Int? = nil) {
        self.id = id
        self.parent = parent
        self.kind = kind
        self.name = name
        self.primitive = primitive
        self.status = status
        self.attempts = attempts
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.error = error
        self.total = total
        self.done = done
    }

    /// Milliseconds between start and finish.
    public var durationMilliseconds: Double? { finishedAt.map { ($0 - startedAt) * 1000 } }
}

/// One line of a run's log.
public struct LogLine: Sendable, Codable, Equatable {
    /// Severity.
    public enum Level: String, Sendable, Codable, CaseIterable {
        case debug, info, warn, error
    }
    public var level: Level
    public var message: String
    /// Wall-clock seconds since the epoch.
    public var time: Double
    /// The node the line was written in (nil: top level).
    public var node: Int?

    /// Creates a line.
    public init(level: Level, message: String, time: Double, node: Int? = nil) {
        self.level = level
        self.message = message
        self.time = time
        self.node = node
    }
}

/// How a run ended (SPEC §6 `--json`).
public struct RunOutcome: Sendable {
    /// The terminal status of a run.
    public enum Status: String, Sendable, Codable {
        case succeeded, failed, cancelled
    }

    public var runID: String
    public var flow: String
    public var status: Status
    /// JSON text of the result (succeeded runs).
    public var result: String?
    /// JSON text describing the error (failed and cancelled runs).
    public var error: String?
    /// JSON text of the errors raised by compensations and on_failure (a list), if any.
    public var compensationErrors: String?
    public var steps: [StepRecord]
    /// Wall-clock seconds since the epoch.
    public var startedAt: Double
    public var finishedAt: Double

    /// Creates an outcome.
    public init(runID: String, flow: String, status: Status, result: String? = nil, error: String? = nil,
                compensationErrors: String? = nil, steps: [StepRecord] = [], startedAt: Double, finishedAt: Double) {
        self.runID = runID
        self.flow = flow
        self.status = status
        self.result = result
        self.error = error
        self.compensationErrors = compensationErrors
        self.steps = steps
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }
}
