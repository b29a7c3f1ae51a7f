// TaskRecord.swift: one coroutine driven by the scheduler.
import LuaBridge

/// What a suspended task is waiting for.
enum TaskWait: Equatable {
    case none
    case sleep
    case group(Int32)
    case cancel(Int32)
    case io(Int)
    case http(Int)
}

/// Why a waiting task was made ready.
enum TaskWake: Equatable {
    case none
    case timer
    case completion
    case io
}

/// The lifecycle of a task.
enum TaskState: Equatable {
    case free
    case ready
    case running
    case waiting
    /// Finished; `results` values (or one error value) wait on its stack for the group owner.
    case done(ok: Bool, results: Int32)
}

/// A task: a coroutine, where it belongs, and what it waits for. Stored in a slot array.
struct TaskRecord {
    var thread: LuaThread?
    var ref: Int32 = -1
    var generation: UInt32 = 0
    var state: TaskState = .free
    var wait: TaskWait = .none
    /// The sequence number of the task's live timer entry (0: none); older entries are stale.
    var timerToken: UInt64 = 0
    /// Values pushed on the stack for the first resume.
    var initialArguments: Int32 = 0
    /// The group this task is a member of (-1 for top-level tasks).
    var group: Int32 = -1
    var index: Int32 = 0
    var label: String?
    /// Open step nodes, innermost last.
    var nodes: [Int32] = []
    /// The lazily created branch node of a member of a visible group (-1: none yet).
    var branchNode: Int32 = -1
    /// The node new records attach to when `nodes` is empty and there is no branch.
    var baseNode: Int32 = 0
    /// Groups this task opened and has not closed, innermost last.
    var ownedGroups: [Int32] = []
    /// The pending subprocess or http call, if any (its result waits in `Scheduler.processResults`
    /// or `Scheduler.httpOutcomes`).
    var io: Int = 0

    /// The id stored in the coroutine's extra space: generation and slot, never 0.
    static func id(slot: Int32, generation: UInt32) -> Int64 {
        Int64(generation) << 32 | Int64(slot + 1)
    }
}
