// InterruptHandler.swift: Ctrl-C cancels the work once; a second Ctrl-C exits at once.
import Foundation
import Synchronization
import TideEngine

/// Turns the first SIGINT/SIGTERM into cancellation of one piece of async work (which still
/// returns its result, e.g. a cancelled run); the next one exits with status 130.
///
/// The signals are blocked first thing in `main`, so threads made later (a run's thread, the
/// watchdog) inherit the mask and can neither die of nor drop one; libdispatch forwards them
/// from its own process-wide handler to the signal sources.
struct InterruptHandler: Sendable {
    let onFirst: @Sendable () -> Void

    init(onFirst: @escaping @Sendable () -> Void) {
        self.onFirst = onFirst
    }

    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread and every thread created after it.
    static func blockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGHUP)  // the daemon rescans on SIGHUP; `tide exec` treats it like SIGTERM
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    private enum Event<T: Sendable>: Sendable {
        case value(T)
        case interrupted
    }

    func cancellingOnInterrupt<T: Sendable>(_ work: @escaping @Sendable () async -> T) async -> T {
        let interrupted = InterruptFlag()
        let sources = [SIGINT, SIGTERM, SIGHUP].map { number -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [onFirst, source] in
                // A busy machine can deliver two signals to one event (data counts them): the
                // second is still a second, so it quits now.
                for _ in 0..<max(1, source.data) {
                    if interrupted.fire() {
                        onFirst()
                    } else {
                        LiveProcesses.killAll()  // no orphans: each command leads its own group
                        _exit(130)
                    }
                }
            }
            source.resume()
            return source
        }
        defer { sources.forEach { $0.cancel() } }
        return await withTaskGroup(of: Event<T>.self) { group in
            group.addTask { .value(await work()) }
            group.addTask {
                await interrupted.wait()
                return .interrupted
            }
            var result: T?
            for await event in group {
                switch event {
                case .value(let value):
                    result = value
                    interrupted.release()  // the waiter returns: the group can finish
                case .interrupted:
                    group.cancelAll()  // the work observes cancellation and returns its outcome
                }
            }
            return result!
        }
    }
}

/// Counts interrupts; an async waiter returns at the first one (or when released).
private final class InterruptFlag: Sendable {
    private struct State {
        var count = 0
        var released = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// Records an interrupt; true for the first.
    func fire() -> Bool {
        let (first, waiter) = state.withLock { s -> (Bool, CheckedContinuation<Void, Never>?) in
            s.count += 1
            let w = s.waiter
            s.waiter = nil
            return (s.count == 1, w)
        }
        waiter?.resume()
        return first
    }

    /// Lets the waiter return without an interrupt.
    func release() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.released = true
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.count > 0 || s.released { return true }
                s.waiter = continuation
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
