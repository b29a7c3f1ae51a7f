// PreemptionTests.swift: the watchdog's signal and hook interrupt Lua at any depth of its stack.
import Foundation
import LuaBridge
import Synchronization
import Testing

/// A host whose one function is `spawn`: it keeps the coroutine the trampoline made.
private final class SpawnHost: LuaHost {
    var spawned: LuaThread?

    func call(_ function: Int32, _ frame: LuaFrame, resumed: Bool, _ out: inout LuaReturn) -> LuaAction {
        spawned = frame.spawnedThread
        return .return
    }
}

@Suite("preemption at depth")
struct PreemptionTests {
    /// Arming the hook marks every call frame (lua_sethook's settraps): at a runaway recursion's
    /// million frames that took longer than a slice, so a watchdog that signalled every slice
    /// kept the thread in its signal handler forever (issue 11). Here the watchdog is far more
    /// eager than tide's (a 50 µs slice, checked every 100 µs), so the old behaviour livelocks
    /// at a few thousand frames; the recursion must still reach Lua's stack overflow.
    @Test("a recursion preempted at every slice still ends in Lua's stack overflow")
    func recursionUnderEagerPreemption() throws {
        let host = SpawnHost()
        let vm = try LuaVM(memoryLimit: 1 << 30, host: host)
        defer { withExtendedLifetime(host) {} }
        try vm.registerSpawn("spawn", id: 1)
        try vm.run("__host.spawn(function() local function f() return f() + 1 end return f() end)", chunkName: "=t")
        let task = try #require(host.spawned)
        task.id = 1  // a tide task: the hook yields it

        // The watchdog gives up after 20 s, so a livelock ends and shows up as a failure below.
        let giveUp = luaMonotonicNow() + 20_000_000_000
        let done = Atomic<Bool>(false)
        let signals = Atomic<Int>(0)
        let preemption = vm.preemption
        let watchdog = Thread {
            while !done.load(ordering: .relaxed) && luaMonotonicNow() < giveUp {
                if preemption.preemptIfRunning(now: luaMonotonicNow(), slice: 50_000) {
                    signals.add(1, ordering: .relaxed)
                }
                usleep(100)
            }
        }
        watchdog.start()
        let start = ContinuousClock.now
        var resumes = 0
        var outcome: LuaResume
        repeat {
            outcome = vm.resume(task)
            resumes += 1
        } while outcome.status == .yield
        let elapsed = ContinuousClock.now - start
        done.store(true, ordering: .relaxed)

        #expect(outcome.status == .runtime)
        #expect(task.describe(at: -1).contains("stack overflow"), "error: \(task.describe(at: -1))")
        #expect(resumes > 1, "the watchdog never preempted the recursion")
        // lua5.4 needs ~0.2 s for this recursion; a livelock lasts until the watchdog gives up.
        #expect(elapsed < .seconds(10), "\(resumes) resumes and \(signals.load(ordering: .relaxed)) signals in \(elapsed)")
    }
}
