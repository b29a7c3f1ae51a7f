// LuaVM.swift: one Lua state with a memory limit and the host functions of its owner.
import CLua
import CLuaShim
#if canImport(Glibc)
import Glibc
#endif

/// What a host function asks the C trampoline to do after the Swift frame has returned.
public enum LuaAction: Int32 {
    /// Return the values put into the ``LuaReturn``.
    case `return` = 0
    /// Yield the running coroutine; the host is called again with `resumed == true` after it is resumed.
    case yield = 1
    /// Raise the message put into the ``LuaReturn`` with the caller's position prepended.
    case error = 2
    /// Raise `bad argument #n to 'name' (message)`.
    case argumentError = 3
    /// Raise the first value put into the ``LuaReturn`` as the error value, unchanged.
    case raise = 4
}

/// The owner of a ``LuaVM``: receives every call of a registered host function.
///
/// Calls arrive on the thread that is running Lua code. Implementations must not call back into
/// Lua from here: they read arguments from the frame, write results into `out` and return.
public protocol LuaHost: AnyObject {
    /// Handles host function `function`, called from Lua (or continued after a yield when `resumed`).
    func call(_ function: Int32, _ frame: LuaFrame, resumed: Bool, _ out: inout LuaReturn) -> LuaAction
}

/// A Lua 5.4 state whose Lua errors and yields never cross a Swift frame.
///
/// Not thread-safe: a VM is used by one thread at a time (its run's scheduler thread).
public final class LuaVM {
    let vm: OpaquePointer
    /// The main thread of the state.
    public let main: LuaThread
    private let hostBox: HostBox
    let scratch: Scratch

    /// Creates a state with the standard libraries, refusing to grow past `memoryLimit` bytes.
    ///
    /// The VM does not retain `host` (the host usually owns the VM): the host must call
    /// ``detach()`` before it goes away.
    public init(memoryLimit: Int, host: LuaHost) throws(LuaError) {
        let box = HostBox(host)
        let scratch = Scratch()
        box.scratch = scratch
        guard let vm = tide_vm_new(memoryLimit, luaBridgeDispatch, Unmanaged.passUnretained(box).toOpaque())
        else { throw LuaError(code: .memory, message: "could not create a Lua state (out of memory?)") }
        self.vm = vm
        self.hostBox = box
        self.scratch = scratch
        self.main = LuaThread(tide_vm_state(vm))
    }

    deinit {
        hostBox.detached = true
        tide_vm_close(vm)
    }

    /// Cuts the VM off from its host: host functions raise from now on. The host calls this
    /// before it goes away.
    public func detach() {
        hostBox.detached = true
    }

    /// Bytes currently allocated by the state.
    public var memoryUsed: Int { tide_vm_memory_used(vm) }

    /// The allocation limit in bytes.
    public var memoryLimit: Int {
        get { tide_vm_memory_limit(vm) }
        set { tide_vm_set_memory_limit(vm, newValue) }
    }

    /// Registers host function `id` as `__host[name]`.
    public func register(_ name: String, id: Int32) throws(LuaError) {
        try check(tide_vm_register(vm, name, id), "registering \(name)")
    }

    /// Registers `__host[name]` as a spawn function: it creates a coroutine for its first argument
    /// (a function) and passes it to the host in ``LuaFrame/spawnedThread``.
    public func registerSpawn(_ name: String, id: Int32) throws(LuaError) {
        try check(tide_vm_register_spawn(vm, name, id), "registering \(name)")
    }

    /// Loads `source` as a text chunk named `chunkName` and runs it in protected mode.
    ///
    /// Returns the number of results left on the main stack.
    @discardableResult
    public func run(_ source: String, chunkName: String, results: Int32 = 0) throws(LuaError) -> Int32 {
        var source = source
        let status = source.withUTF8 { buf in
            buf.withMemoryRebound(to: CChar.self) { tide_vm_dostring(vm, $0.baseAddress, $0.count, chunkName, results) }
        }
        try check(status, chunkName)
        return lua_gettop(main.L)
    }

    /// Loads an embedded C string chunk (the prelude) and runs it.
    /// Runs a chunk compiled by ``LuaBytecode`` (tide's own Lua, never user code).
    public func run(_ bytecode: LuaBytecode, chunkName: String) throws(LuaError) {
        try check(bytecode.bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { tide_vm_dobytecode(vm, $0.baseAddress, $0.count, chunkName, 0) }
        }, chunkName)
    }

    public func run(bytes: UnsafePointer<CChar>, count: Int, chunkName: String) throws(LuaError) {
        try check(tide_vm_dostring(vm, bytes, count, chunkName, 0), chunkName)
    }

    /// Calls global function `name` with one optional string argument, in protected mode, keeping
    /// `results` results on the main stack.
    public func call(_ name: String, argument: String?, results: Int32) throws(LuaError) {
        let status: Int32
        if var argument {
            status = argument.withUTF8 { buf in
                buf.withMemoryRebound(to: CChar.self) { tide_vm_call(vm, name, $0.baseAddress, $0.count, results) }
            }
        } else {
            status = tide_vm_call(vm, name, nil, 0, results)
        }
        try check(status, name)
    }

    /// Resumes coroutine `thread` with the `arguments` values already pushed on its stack.
    public func resume(_ thread: LuaThread, arguments: Int32 = 0) -> LuaResume {
        var nres: Int32 = 0
        let status = tide_resume(vm, thread.L, arguments, &nres)
        return LuaResume(status: LuaStatus(status), results: nres)
    }

    /// Closes a suspended or dead coroutine: its pending `<close>` variables run now.
    ///
    /// Returns `.ok`, or the error status with the error value on top of the thread's stack (the
    /// original error of a coroutine that died raising, unless a close handler raised another).
    public func close(_ thread: LuaThread) -> LuaStatus {
        LuaStatus(tide_close(vm, thread.L))
    }

    /// Releases registry references (anchors of finished coroutines), in protected mode.
    public func release(_ refs: [Int32]) {
        guard !refs.isEmpty else { return }
        refs.withUnsafeBufferPointer { _ = tide_vm_release(vm, $0.baseAddress, Int32($0.count)) }
    }

    /// A handle the watchdog thread uses to preempt this VM.
    public var preemption: LuaPreemption { LuaPreemption(vm: vm) }

    private func check(_ status: Int32, _ what: String) throws(LuaError) {
        guard status != LUA_OK else { return }
        let message = main.describe(at: -1)
        main.settop(0)
        throw LuaError(code: LuaStatus(status) == .memory ? .memory : .runtime, message: message)
    }
}

/// The result of resuming a coroutine.
public struct LuaResume: Equatable, Sendable {
    /// How the resume ended.
    public var status: LuaStatus
    /// How many values the coroutine returned or yielded (on its stack).
    public var results: Int32
}

/// The status codes of `lua_resume` and protected calls.
public enum LuaStatus: Equatable, Sendable {
    case ok, yield, runtime, syntax, memory, errorHandler

    init(_ raw: Int32) {
        switch raw {
        case LUA_OK: self = .ok
        case LUA_YIELD: self = .yield
        case LUA_ERRSYNTAX: self = .syntax
        case LUA_ERRMEM: self = .memory
        case LUA_ERRERR: self = .errorHandler
        default: self = .runtime
        }
    }

    /// The coroutine raised (it is dead now, its error value on top of its stack).
    public var isError: Bool { self != .ok && self != .yield }
}

/// Thread-safe handle for preempting a VM from the watchdog thread.
public struct LuaPreemption: @unchecked Sendable, Hashable {
    let vm: OpaquePointer

    /// Interrupts the run thread (a signal; its handler arms a one-shot hook) if the current resume
    /// has run for `slice` nanoseconds or the run must stop; true if it did.
    @discardableResult
    public func preemptIfRunning(now: UInt64, slice: UInt64) -> Bool {
        tide_vm_preempt(vm, now, slice) != 0
    }

    /// Sets the monotonic instant (nanoseconds) after which runaway code that cannot yield is
    /// stopped with an error; 0 clears it.
    public func setDeadline(_ nanoseconds: UInt64, message: String) {
        tide_vm_set_deadline(vm, nanoseconds, message)
    }

    /// What the hook stopped since the last call: code past the deadline, cancelled code, or a
    /// `<close>` handler past its budget.
    public func takeStopped() -> LuaStop {
        LuaStop(rawValue: tide_vm_take_stopped(vm))
    }

    /// Marks the VM's run cancelled (or not): code that cannot yield is then stopped with an error
    /// at the next hook, so a cancel request reaches even a loop in a `table.sort` comparator.
    public func setCancelled(_ cancelled: Bool) {
        tide_vm_set_cancelled(vm, cancelled ? 1 : 0)
    }
}

/// Why the hook stopped code that could not yield.
public struct LuaStop: OptionSet, Sendable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    /// Past the phase's deadline.
    public static let deadline = LuaStop(rawValue: Int32(TIDE_STOP_DEADLINE))
    /// The run was cancelled.
    public static let cancelled = LuaStop(rawValue: Int32(TIDE_STOP_CANCELLED))
    /// A `<close>` handler ran past its budget.
    public static let close = LuaStop(rawValue: Int32(TIDE_STOP_CLOSE))
}

/// The monotonic clock used by the shim, in nanoseconds.
public func luaMonotonicNow() -> UInt64 { tide_now_ns() }

final class HostBox {
    /// Not retained: the host owns the VM. The host detaches before it goes away (see
    /// ``LuaVM/detach()``), so Lua code that would run while the state closes (there should be
    /// none: flows cannot set __gc) gets an error instead of a dangling reference.
    unowned(unsafe) let host: LuaHost
    var detached = false
    var scratch: Scratch!
    init(_ host: LuaHost) { self.host = host }
}

/// Bytes that stay valid until the next host call: strings returned to Lua.
final class Scratch {
    var buffer: UnsafeMutableRawPointer
    var capacity: Int
    var used = 0

    init() {
        capacity = 4096
        buffer = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Capacity kept between calls; a call that needed more (an http body, a command's output)
    /// gives it back at the next one instead of holding it for the rest of the run.
    static let keptCapacity = 1 << 20

    func reset() {
        used = 0
        if capacity > Self.keptCapacity {
            buffer.deallocate()
            capacity = 4096
            buffer = .allocate(byteCount: capacity, alignment: 16)
        }
    }

    /// Copies `bytes` in; returns their address. Growing moves the buffer, so a call that returns
    /// several strings reserves first (see ``LuaReturn/push(_:)-(String)``).
    @discardableResult
    func append(_ bytes: UnsafeRawBufferPointer) -> UnsafePointer<CChar> {
        if used + bytes.count + 1 > capacity { grow(to: used + bytes.count + 1) }
        let dest = buffer + used
        if let base = bytes.baseAddress, bytes.count > 0 { dest.copyMemory(from: base, byteCount: bytes.count) }
        used += bytes.count
        return UnsafePointer(dest.assumingMemoryBound(to: CChar.self))
    }

    func grow(to needed: Int) {
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let newBuffer = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        newBuffer.copyMemory(from: buffer, byteCount: used)
        buffer.deallocate()
        buffer = newBuffer
        capacity = newCapacity
    }
}

private func luaBridgeDispatch(
    _ host: UnsafeMutableRawPointer?, _ L: OpaquePointer?, _ fn: Int32, _ resumed: Int32,
    _ call: UnsafeMutablePointer<tide_call>?
) -> Int32 {
    let box = Unmanaged<HostBox>.fromOpaque(host!).takeUnretainedValue()
    box.scratch.reset()
    var out = LuaReturn(call: call!, scratch: box.scratch)
    if box.detached {
        out.error("the Lua state is closing")
        out.finalize()
        return LuaAction.error.rawValue
    }
    let action = box.host.call(fn, LuaFrame(L!, call: call!), resumed: resumed != 0, &out)
    out.finalize()
    return action.rawValue
}

/// Process-wide set-up for hosting many Lua states; call first thing in `main`, before threads
/// exist: one malloc arena (a thread arena grows its heap by one mprotect per extension).
public func luaConfigureProcess() {
    tide_use_single_malloc_arena()
}

/// Gives the memory of closed Lua states back to the system (a daemon's resident size then
/// reflects what it holds, not its past peaks). Walks the heap: call it when idle.
/// Lowers the calling thread's CPU priority by `increment` nice steps (Linux; per thread).
public func luaLowerThreadPriority(_ increment: Int32) {
    tide_lower_thread_priority(increment)
}

public func luaReleaseFreeMemory() {
    tide_release_free_memory()
}

/// Lua text compiled once per process to bytecode, which loads several times faster than text
/// in each new state.
public struct LuaBytecode: Sendable {
    /// The chunk's bytes (with debug info, so tracebacks keep their lines).
    public let bytes: [UInt8]

    /// Compiles `count` bytes of text; nil on a syntax error.
    public init?(source: UnsafePointer<CChar>, count: Int, chunkName: String) {
        var length = 0
        guard let data = tide_compile(source, count, chunkName, &length) else { return nil }
        defer { free(data) }
        bytes = Array(UnsafeRawBufferPointer(start: data, count: length))
    }
}
