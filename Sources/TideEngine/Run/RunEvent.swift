// RunEvent.swift: what a run reports while it executes (live views, history).

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
}

/// Something that happened in a run.
public enum RunEvent: Sendable {
    case nodeStarted(StepRecord)
    case nodeFinished(StepRecord)
    case retrying(node: Int, attempt: Int, error: String, delay: Double)
    case progress(node: Int, done: Int, total: Int)
    case log(LogLine)
}

/// Receives a run's events, from the run's thread and from its subprocess tasks.
public protocol RunObserver: Sendable {
    /// Called for every event, in order per source; must be quick and must not block.
    func record(_ event: RunEvent)
}

/// An observer that ignores everything.
public struct NullObserver: RunObserver {
    /// Creates the observer.
    public init() {}
    /// Ignores the event.
    public func record(_ event: RunEvent) {}
}
