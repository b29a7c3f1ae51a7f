// WakeTimer.swift: sleeps until a wall-clock instant, a change of the wall clock, or a poke.
import CTideSys
import Foundation
import Synchronization

/// A wall-clock alarm for the scheduler, on a thread of its own blocked in poll(2): a timerfd
/// on CLOCK_REALTIME armed for an absolute instant (so it rings at that wall time even after a
/// suspend), which also reports when the clock is set (an NTP step, a manual change), and an
/// eventfd to wake it for a reload or shutdown. Nothing ticks in between: an idle daemon
/// sleeps until its next start.
final class WakeTimer: Sendable {
    enum Wake: Sendable {
        /// The armed instant came.
        case due
        /// The wall clock jumped: plan again.
        case clockChanged
        /// Something changed (a reload) or the waiter was cancelled.
        case poked

        var strength: Int {
            switch self {
            case .due: 0
            case .poked: 1
            case .clockChanged: 2
            }
        }
    }

    private struct State {
        var waiter: CheckedContinuation<Wake, Never>?
        var pending: Wake?
        var closing = false
    }

    private let timerFD: Int32
    private let eventFD: Int32
    private let state = Mutex(State())

    init() throws {
        let timer = tide_walltimer_create()
        guard timer >= 0 else { throw DaemonError("cannot create the schedule timer: \(String(cString: strerror(errno)))") }
        let event = tide_event_create()
        guard event >= 0 else {
            close(timer)
            throw DaemonError("cannot create the schedule timer's eventfd: \(String(cString: strerror(errno)))")
        }
        timerFD = timer
        eventFD = event
        let thread = Thread { [self] in loop() }
        thread.name = "tide-schedule-timer"
        thread.start()
    }

    /// Sets the next instant to wake for (nil: none, sleep until poked).
    func arm(_ instant: Date?) {
        guard let instant else {
            tide_walltimer_arm(timerFD, 0, 0)
            return
        }
        // an instant already past rings at once; 0.0 would mean "disarm"
        let time = max(instant.timeIntervalSince1970, 1e-9)
        let seconds = time.rounded(.down)
        tide_walltimer_arm(timerFD, Int64(seconds), Int64((time - seconds) * 1e9))
    }

    /// Waits for the armed instant, a clock change or a poke; a cancelled task returns at once.
    func wait() async -> Wake {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
                let ready = state.withLock { s -> Wake? in
                    if let pending = s.pending {
                        s.pending = nil
                        return pending
                    }
                    s.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            poke()
        }
    }

    /// Wakes the waiter (or the next one).
    func poke() {
        tide_event_signal(eventFD)
    }

    /// Ends the thread; the descriptors are closed by it.
    func shutdown() {
        state.withLock { $0.closing = true }
        poke()
    }

    private func loop() {
        var timerReady: Int32 = 0
        var eventReady: Int32 = 0
        while true {
            guard tide_wait(timerFD, eventFD, &timerReady, &eventReady) == 0 else { break }
            // the strongest reason wins: a clock change or a poke (a reload) makes the waiter
            // plan again, which fires what is due as well
            var wake: Wake?
            if timerReady != 0 {
                switch tide_walltimer_read(timerFD) {
                case 1: wake = .due
                case 2: wake = .clockChanged
                default: break
                }
            }
            if eventReady != 0 {
                tide_event_drain(eventFD)
                if wake == nil || wake == .due { wake = .poked }
            }
            let (waiter, closing) = state.withLock { s -> (CheckedContinuation<Wake, Never>?, Bool) in
                if s.closing { return (s.waiter.take(), true) }
                guard let wake else { return (nil, false) }
                if let waiter = s.waiter.take() { return (waiter, false) }
                // nobody waits: keep the strongest reason for the next wait
                if let pending = s.pending, pending.strength >= wake.strength {} else { s.pending = wake }
                return (nil, false)
            }
            waiter?.resume(returning: wake ?? .poked)
            if closing { break }
        }
        close(timerFD)
        close(eventFD)
    }
}
