// RunEvent.swift: what a run reports while it executes (live views, history).

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
