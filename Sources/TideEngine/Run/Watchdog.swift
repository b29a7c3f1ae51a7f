// Watchdog.swift: preempts Lua code that runs for 10 ms without waiting.
import Foundation
import LuaBridge

/// One thread for the whole process that interrupts any run whose current resume has lasted a
/// time slice (or that must stop): the run thread's signal handler arms a one-shot count hook,
/// so a busy task yields and its siblings' timers fire on time. It sleeps while no run is
/// registered.
public final class Watchdog: @unchecked Sendable {
    /// The process-wide watchdog.
    public static let shared = Watchdog()

    /// How long a task may compute before it is preempted: 8 ms plus at most one 2 ms scan keeps
    /// preemption within the 10 ms of SPEC §3.1.
    public let slice: UInt64 = 8_000_000
    private let lock = NSCondition()
    private var vms: [LuaPreemption: Int] = [:]
    private var started = false

    func register(_ vm: LuaPreemption) {
        lock.lock()
        vms[vm, default: 0] += 1
        if !started {
            started = true
            let thread = Thread { [self] in loop() }
            thread.name = "tide-watchdog"
            thread.start()
        }
        lock.signal()
        lock.unlock()
    }

    func unregister(_ vm: LuaPreemption) {
        lock.lock()
        if let n = vms[vm], n > 1 { vms[vm] = n - 1 } else { vms[vm] = nil }
        lock.unlock()
    }

    private func loop() {
        while true {
            lock.lock()
            while vms.isEmpty { lock.wait() }
            let now = luaMonotonicNow()
            for vm in vms.keys { vm.preemptIfRunning(now: now, slice: slice) }
            lock.unlock()
            usleep(2_000)  // checks five times a slice: a busy task yields within ~12 ms
        }
    }
}
