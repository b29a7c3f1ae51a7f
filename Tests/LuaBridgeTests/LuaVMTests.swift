// LuaVMTests.swift: the bridge keeps Lua errors and yields on the C side of every Swift frame.
import LuaBridge
import Testing

/// A host with three functions: 1 returns its argument doubled, 2 raises, 3 yields once and then
/// returns "resumed", 4 returns a long string.
final class TestHost: LuaHost {
    var calls = 0
    /// Incremented by a `defer` in every call: a longjmp across the Swift frame would skip it.
    var deferred = 0

    func call(_ function: Int32, _ frame: LuaFrame, resumed: Bool, _ out: inout LuaReturn) -> LuaAction {
        calls += 1
        defer { deferred += 1 }
        switch function {
        case 1:
            guard let n = frame.integer(1) else {
                out.error("number expected", argument: 1)
                return .argumentError
            }
            out.push(n * 2)
            return .return
        case 2:
            out.error("host says no")
            return .error
        case 3:
            if !resumed { return .yield }
            out.push("resumed")
            return .return
        default:
            out.push(String(repeating: "x", count: 100_000))
            out.push("second")
            return .return
        }
    }
}

@Suite("LuaVM")
struct LuaVMTests {
    func makeVM(_ host: TestHost, limit: Int = 64 << 20) throws -> LuaVM {
        let vm = try LuaVM(memoryLimit: limit, host: host)
        try vm.register("double", id: 1)
        try vm.register("fail", id: 2)
        try vm.register("pause", id: 3)
        try vm.register("big", id: 4)
        return vm
    }

    @Test("host functions return values pushed by C")
    func hostReturn() throws {
        let host = TestHost()
        let vm = try makeVM(host)
        try vm.run("result = __host.double(21)", chunkName: "=t")
        try vm.run("assert(result == 42); local a, b = __host.big(); assert(#a == 100000 and b == 'second')", chunkName: "=t")
        #expect(host.calls == 2)
    }

    @Test("a host error is a Lua error with the caller's position, catchable by pcall")
    func hostError() throws {
        let host = TestHost()
        let vm = try makeVM(host)
        defer { withExtendedLifetime(host) {} }
        try vm.run("local ok, e = pcall(function() __host.fail() end) msg = e", chunkName: "@script.lua")
        #expect(throws: LuaError.self) { try vm.run("__host.fail()", chunkName: "@script.lua") }
        do {
            try vm.run("\n__host.fail()", chunkName: "@script.lua")
        } catch {
            #expect(error.message == "script.lua:2: host says no")
        }
    }

    @Test("argument errors read like Lua's")
    func argumentError() throws {
        let host = TestHost()
        let vm = try makeVM(host)
        defer { withExtendedLifetime(host) {} }
        do {
            try vm.run("local double = __host.double; double('x')", chunkName: "@a.lua")
            Issue.record("no error")
        } catch {
            #expect(error.message == "a.lua:1: bad argument #1 to 'double' (number expected)")
        }
    }

    @Test("thousands of raising host calls leave Swift intact (no longjmp across Swift frames)")
    func manyErrors() throws {
        let host = TestHost()
        let vm = try makeVM(host)
        try vm.run("for i = 1, 5000 do pcall(__host.fail) end", chunkName: "=t")
        #expect(host.calls == 5000)
        #expect(host.deferred == 5000, "a Swift frame was skipped by a longjmp")
        try vm.run("local co = coroutine.wrap(function() for i = 1, 100 do __host.pause() end end) for i = 1, 100 do co() end", chunkName: "=t")
        #expect(host.deferred == host.calls)
        try vm.run("assert(__host.double(2) == 4)", chunkName: "=t")
        withExtendedLifetime(host) {}
    }

    @Test("a yielding host function suspends the coroutine; the host continues it when resumed")
    func yieldAndResume() throws {
        let host = TestHost()
        let vm = try makeVM(host)
        defer { withExtendedLifetime(host) {} }
        try vm.run("co = coroutine.create(function() return __host.pause() end)", chunkName: "=t")
        // Resume through the bridge: the first resume yields from the host function.
        try vm.run("""
            local ok, v = coroutine.resume(co)
            assert(ok and v == nil and coroutine.status(co) == 'suspended')
            local ok2, v2 = coroutine.resume(co)
            assert(ok2 and v2 == 'resumed', tostring(v2))
            """, chunkName: "=t")
    }

    @Test("the memory limit turns an allocation bomb into a catchable error")
    func memoryLimit() throws {
        let host = TestHost()
        let vm = try makeVM(host, limit: 8 << 20)
        defer { withExtendedLifetime(host) {} }
        try vm.run("""
            local ok, e = pcall(function() local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(100) .. i end end)
            assert(not ok and e == 'not enough memory', tostring(e))
            """, chunkName: "=t")
        #expect(vm.memoryUsed < 8 << 20)
        try vm.run("collectgarbage() assert(__host.double(1) == 2)", chunkName: "=t")
    }

    @Test("syntax errors are reported with the chunk name and line")
    func syntaxError() throws {
        let host = TestHost()
        let vm = try makeVM(host)
        defer { withExtendedLifetime(host) {} }
        #expect(throws: LuaError(code: .runtime, message: "flows/x.lua:2: unexpected symbol near '='")) {
            try vm.run("local a = 1\n= 2", chunkName: "@flows/x.lua")
        }
    }

    @Test("the bridge loads text chunks only: precompiled bytecode is refused")
    func textOnly() throws {
        let host = TestHost()
        let vm = try makeVM(host)
        defer { withExtendedLifetime(host) {} }
        #expect(throws: LuaError(code: .runtime, message: "attempt to load a binary chunk (mode is 't')")) {
            try vm.run("\u{1b}Lua\u{54}\u{00}", chunkName: "=bytecode")
        }
    }
}
