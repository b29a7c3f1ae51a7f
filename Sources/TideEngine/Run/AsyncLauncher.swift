// AsyncLauncher.swift: hands subprocess requests from the run thread to the run's task group.
import Synchronization

/// A subprocess job for the async side.
struct ProcessJob: Sendable {
    var id: Int
    var request: ProcessRequest
    var token: CancelToken
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
        tokens.withLock { $0.removeValue(forKey: id) }?.fire()
    }

    func finished(id: Int) {
        _ = tokens.withLock { $0.removeValue(forKey: id) }
    }
}
