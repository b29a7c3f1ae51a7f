// AsyncLauncher.swift: hands subprocess requests from the run thread to the run's task group.
import Foundation
import Synchronization

/// A subprocess job for the async side.
struct ProcessJob: Sendable {
    var id: Int
    var request: ProcessRequest
    var token: CancelToken
    /// The process group, once the process has started.
    var group = ProcessGroup()
}

/// The process group id of a job's process (its leader's pid), set when it starts.
final class ProcessGroup: Sendable {
    private let pid = Mutex<pid_t>(0)
    func set(_ value: pid_t) { pid.withLock { $0 = value } }
    var value: pid_t { pid.withLock { $0 } }
}

/// The run thread's ``ProcessLauncher``: each request becomes a child task of the run's task
/// group (see ``RunExecutor``); cancelling fires its token, and the child cancels the process.
final class AsyncLauncher: ProcessLauncher, Sendable {
    private let continuation: AsyncStream<ProcessJob>.Continuation
    private let tokens = Mutex<[Int: CancelToken]>([:])

    init(_ continuation: AsyncStream<ProcessJob>.Continuation) {
        self.continuation = continuation
    }

    func launch(_ request: ProcessRequest, id: Int) {
        let token = CancelToken()
        tokens.withLock { $0[id] = token }
        continuation.yield(ProcessJob(id: id, request: request, token: token))
    }

    func cancel(id: Int) {
        tokens.withLock { $0.removeValue(forKey: id) }?.cancel()
    }

    func finished(id: Int) {
        _ = tokens.withLock { $0.removeValue(forKey: id) }
    }
}
