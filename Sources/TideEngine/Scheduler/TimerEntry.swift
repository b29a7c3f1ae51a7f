// TimerEntry.swift: one entry of the run's timer heap.

/// A deadline for a task (sleep, wait with deadline) or the run itself.
struct TimerEntry: Comparable {
    var deadline: UInt64
    var sequence: UInt64
    var slot: Int32
    var generation: UInt32
    var kind: Kind

    enum Kind: UInt8 {
        case task
        case runDeadline
    }

    static func < (a: TimerEntry, b: TimerEntry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence
    }

    static func == (a: TimerEntry, b: TimerEntry) -> Bool {
        a.deadline == b.deadline && a.sequence == b.sequence
    }
}
