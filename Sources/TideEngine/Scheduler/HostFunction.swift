// HostFunction.swift: the host primitives the Lua prelude is built on.

/// Host functions registered as `__host.<name>` in every flow state. The prelude captures them
/// and hides `__host`; user code reaches them only through the flow API.
enum HostFunction: Int32, CaseIterable {
    case spawn = 1
    case wait
    case cancel
    case groupOpen
    case groupClose
    case groupIsOpen
    case groupFailure
    case progress
    case sleep
    case stepBegin
    case stepRetry
    case stepEnd
    case log
    case exec
    case now
    case clock
    case env
    case source
    case kv
    case http

    /// The name under `__host`.
    var luaName: String {
        switch self {
        case .spawn: "spawn"
        case .wait: "wait"
        case .cancel: "cancel"
        case .groupOpen: "group_open"
        case .groupClose: "group_close"
        case .groupIsOpen: "group_is_open"
        case .groupFailure: "group_failure"
        case .progress: "progress"
        case .sleep: "sleep"
        case .stepBegin: "step_begin"
        case .stepRetry: "step_retry"
        case .stepEnd: "step_end"
        case .log: "log"
        case .exec: "exec"
        case .now: "now"
        case .clock: "clock"
        case .env: "env"
        case .source: "source"
        case .kv: "kv"
        case .http: "http"
        }
    }

    /// Functions that wait: called outside a task (top level, user coroutine) they raise.
    var waits: Bool {
        switch self {
        case .wait, .cancel, .sleep, .exec, .http: true
        default: false
        }
    }
}
