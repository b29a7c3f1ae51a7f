// RunThreadPool.swift: the threads runs execute their Lua on, kept for the next run.
import Dispatch
import Foundation
import LuaBridge
import Synchronization

/// Threads with large stacks for runs' Lua states. A run holds its thread from start to end
/// (Lua calls cannot move between threads mid-run); when it ends the thread waits for the next
/// run, up to `idleLimit` seconds, then exits, so an idle daemon keeps no run threads.
///
/// Creating a thread per run (clone, a 16 MiB stack mapped and faulted in, thread-local set-up)
/// was a tenth of a trivial run's cost. A thread carries nothing from one run to the next: the
/// preemption state lives in the run's VM, and the thread-local pointer to it is cleared each
/// time Lua returns (see tide_leave in the shim).
final class RunThreadPool: Sendable {
    static let shared = RunThreadPool()

    private let idle = Mutex<[Worker]>([])
    private let stackSize: Int
    private let idleLimit: Double

    init(stackSize: Int = 16 << 20, idleLimit: Double = 10) {
        self.stackSize = stackSize
        self.idleLimit = idleLimit
    }

    /// Runs `body` on a pool thread.
    func run(_ body: @escaping @Sendable () -> Void) {
        if let worker = idle.withLock({ $0.popLast() }) {
            worker.give(body)
            return
        }
        let worker = Worker()
        let thread = Thread { [self] in
            Self.lowerPriority()
            worker.loop(first: body, pool: self)
        }
        thread.stackSize = stackSize
        thread.name = "tide-run"
        thread.start()
    }

    /// How much less CPU priority run threads have than the process's other threads (a nice
    /// increment; 0 by default). The daemon sets it (``RunExecutor/lowerRunPriority(by:)``): when
    /// runs keep every core busy, the control socket, the store's writer and the event loop still
    /// get the CPU as soon as they wake, so `run.start` is acknowledged without waiting behind
    /// running flows. Subprocesses are started from other threads and keep their priority.
    static let niceness = Atomic<Int32>(0)

    private static func lowerPriority() {
        let increment = niceness.load(ordering: .relaxed)
        if increment > 0 { luaLowerThreadPriority(increment) }
    }

    /// Threads waiting for a run (for tests).
    var idleCount: Int { idle.withLock { $0.count } }

    fileprivate func park(_ worker: Worker) {
        idle.withLock { $0.append(worker) }
    }

    /// After a wait timed out: true if the worker was still idle and is now removed (its thread
    /// ends); false if a run was just handed to it.
    fileprivate func retire(_ worker: Worker) -> Bool {
        idle.withLock { workers in
            guard let index = workers.firstIndex(where: { $0 === worker }) else { return false }
            workers.remove(at: index)
            return true
        }
    }

    fileprivate var waitLimit: Double { idleLimit }
}

private final class Worker: Sendable {
    private let job = Mutex<(@Sendable () -> Void)?>(nil)
    private let signal = DispatchSemaphore(value: 0)

    func give(_ body: @escaping @Sendable () -> Void) {
        job.withLock { $0 = body }
        signal.signal()
    }

    func loop(first: @escaping @Sendable () -> Void, pool: RunThreadPool) {
        var body: (@Sendable () -> Void)? = first
        while let current = body {
            current()
            pool.park(self)
            while signal.wait(timeout: .now() + pool.waitLimit) == .timedOut {
                if pool.retire(self) { return }
                // a run was handed over as the wait ended: its signal is on the way
            }
            body = job.withLock { job in
                defer { job = nil }
                return job
            }
        }
    }
}
