// Mailbox.swift: messages into a run's thread, and the run thread's one blocking wait.
import Foundation
import LuaBridge

/// A message for a run's thread.
enum RunMessage: Sendable {
    case processFinished(id: Int, result: ProcessResult)
    case httpFinished(id: Int, outcome: HTTPOutcome)
    /// The `count`th cancel request of the run.
    case cancel(reason: String, count: Int)
}

/// A queue the run thread sleeps on until a message arrives or its next timer is due.
final class Mailbox: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var messages: [RunMessage] = []
    private var vm: LuaPreemption?
    private var cancels = 0
    /// How many cancels in all flag the VM (stop code that cannot yield).
    private var flagAt = 1

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Connects the run's VM: a cancel message then also stops code that cannot yield.
    func attach(_ vm: LuaPreemption?) {
        pthread_mutex_lock(mutex)
        self.vm = vm
        vm?.setCancelled(cancels >= flagAt)
        pthread_mutex_unlock(mutex)
    }

    /// Enters cleanup: from now on cancel number `cancels + extraCancels` stops it. Returns that
    /// number. The VM flag is cleared or set in the same step, so no cancel falls between.
    func beginCleanup(extraCancels: Int) -> Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        flagAt = cancels + extraCancels
        vm?.setCancelled(cancels >= flagAt)
        return flagAt
    }

    /// Requests cancellation (any thread).
    func cancel(reason: String) {
        pthread_mutex_lock(mutex)
        cancels += 1
        if cancels >= flagAt { vm?.setCancelled(true) }
        messages.append(.cancel(reason: reason, count: cancels))
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Posts a message (any thread).
    func post(_ message: RunMessage) {
        pthread_mutex_lock(mutex)
        messages.append(message)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Takes every pending message, first waiting until one arrives or `deadline` (monotonic
    /// nanoseconds) passes; `nil` waits without limit, `0` does not wait.
    func take(waitingUntil deadline: UInt64?) -> [RunMessage] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if messages.isEmpty, deadline != 0 {
            if let deadline {
                var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
                _ = pthread_cond_timedwait(condition, mutex, &ts)
            } else {
                pthread_cond_wait(condition, mutex)
            }
        }
        let taken = messages
        messages.removeAll(keepingCapacity: true)
        return taken
    }
}
