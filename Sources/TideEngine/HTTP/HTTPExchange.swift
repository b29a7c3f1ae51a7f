// HTTPExchange.swift: performs one http call on async-http-client, following redirects.
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One http call in flight: sends the request, follows redirects hop by hop, and reports the
/// outcome once through `finish` (nil when it was cancelled). Cancelling aborts the request in
/// flight: async-http-client closes its connection (or drops it from the queue for one).
final class HTTPExchange: Sendable {
    private struct Locked {
        var machine: HTTPExchangeState
        var task: HTTPClient.Task<HTTPBodyCollector.Response>?
    }

    private let call: HTTPCall
    private let client: HTTPClient
    private let deadline: NIODeadline
    private let finish: @Sendable (HTTPOutcome?) -> Void
    private let state: Mutex<Locked>

    init(_ call: HTTPCall, client: HTTPClient, finish: @escaping @Sendable (HTTPOutcome?) -> Void) {
        self.call = call
        self.client = client
        self.deadline = .now() + .nanoseconds(Int64(min(call.timeout, 1e9) * 1e9))
        self.finish = finish
        self.state = Mutex(Locked(machine: HTTPExchangeState(maxRedirects: call.maxRedirects), task: nil))
    }

    /// Sends the first request.
    func start() {
        send(call.request)
    }

    /// Aborts the call (any thread); nothing is reported after this.
    func cancel() {
        let task = state.withLock { s -> HTTPClient.Task<HTTPBodyCollector.Response>? in
            s.machine.cancel() ? s.task : nil
        }
        task?.cancel()
    }

    private func send(_ request: HTTPClient.Request) {
        let method = request.method.rawValue, url = request.url.absoluteString
        let collector = HTTPBodyCollector(maxBody: call.maxBody, headRequest: request.method == .HEAD) { "\(method) \(url)" }
        let task = client.execute(request: request, delegate: collector, deadline: deadline)
        let cancelled = state.withLock { s -> Bool in
            if s.machine.isCancelled { return true }
            s.task = task
            return false
        }
        if cancelled { task.cancel() }  // cancelled while this hop was being set up
        task.futureResult.whenComplete { result in
            self.ended(request, result)
        }
    }

    private func ended(_ request: HTTPClient.Request, _ result: Result<HTTPBodyCollector.Response, Error>) {
        switch result {
        case .failure(let error):
            let deliver = state.withLock { $0.machine.failed() }
            finish(deliver ? .failure(HTTPFailure.classify(error, call: call, request: request)) : nil)
        case .success(let response):
            var next: Result<HTTPRedirect.Hop, HTTPFailure>?
            if call.maxRedirects > 0 {
                next = HTTPRedirect.next(
                    status: response.status, location: response.headers.first(name: "location"), from: request.url,
                    method: request.method, headers: request.headers)
            }
            if case .failure(let failure)? = next {
                let deliver = state.withLock { $0.machine.failed() }
                let message = "\(call.method) \(call.url): \(failure.message)"
                finish(deliver ? .failure(HTTPFailure(reason: failure.reason, message: message)) : nil)
                return
            }
            let action = state.withLock { $0.machine.received(redirect: next != nil) }
            switch action {
            case .drop:
                finish(nil)
            case .deliver:
                finish(.success(HTTPResponse(
                    status: response.status, headers: response.headers, body: response.body, url: request.url.absoluteString)))
            case .tooManyRedirects:
                let message = "\(call.method) \(call.url): too many redirects (more than \(call.maxRedirects); the last one led to \(request.url.absoluteString)); raise follow_redirects to allow more"
                finish(.failure(HTTPFailure(reason: .redirects, message: message)))
            case .follow:
                // received(redirect:) follows only when told of a hop: returning here would leave the task waiting
                guard case .success(let hop)? = next else { preconditionFailure("a redirect followed without a hop") }
                do {
                    let nextRequest = try HTTPClient.Request(
                        url: hop.url, method: hop.method, headers: hop.headers, body: hop.keepsBody ? request.body : nil,
                        tlsConfiguration: request.tlsConfiguration)
                    send(nextRequest)
                } catch {
                    let deliver = state.withLock { $0.machine.failed() }
                    let message = "\(call.method) \(call.url): redirected to \(hop.url.absoluteString), which cannot be requested (\(error))"
                    finish(deliver ? .failure(HTTPFailure(reason: .redirects, message: message)) : nil)
                }
            }
        }
    }
}
