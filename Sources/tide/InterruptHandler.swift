// InterruptHandler.swift: Ctrl-C cancels the work once; a second Ctrl-C exits at once.
import Foundation

/// Turns the first SIGINT/SIGTERM into cancellation of one piece of async work (which still
/// returns its result, e.g. a cancelled run); the next one exits with status 130.
struct InterruptHandler: Sendable {
    let onFirst: @Sendable () -> Void

    init(onFirst: @escaping @Sendable () -> Void) {
        self.onFirst = onFirst
    }

    private enum Event<T: Sendable>: Sendable {
        case value(T)
        case interrupted
        case stopped
    }

    func cancellingOnInterrupt<T: Sendable>(_ work: @escaping @Sendable () async -> T) async -> T {
        let signals = AsyncStream<Int32> { continuation in
            let sources = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                return source
            }
            let owned = SignalSources(sources)
            continuation.onTermination = { _ in owned.cancel() }
        }
        return await withTaskGroup(of: Event<T>.self) { group in
            group.addTask { .value(await work()) }
            group.addTask {
                for await _ in signals { return .interrupted }
                return .stopped
            }
            var result: T?
            for await event in group {
                switch event {
                case .value(let value):
                    result = value
                    group.cancelAll()
                case .interrupted:
                    onFirst()
                    signal(SIGINT) { _ in _exit(130) }
                    signal(SIGTERM) { _ in _exit(130) }
                    group.cancelAll()
                case .stopped:
                    break
                }
            }
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
            return result!
        }
    }
}

/// Keeps the signal sources alive until the stream ends (Dispatch sources are thread-safe).
private final class SignalSources: @unchecked Sendable {
    let sources: [DispatchSourceSignal]
    init(_ sources: [DispatchSourceSignal]) { self.sources = sources }
    func cancel() { sources.forEach { $0.cancel() } }
}
