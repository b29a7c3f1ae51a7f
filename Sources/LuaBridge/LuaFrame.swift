// LuaFrame.swift: read-only access to the arguments of a host function call.
import CLua
import CLuaShim

/// The Lua types, as `lua_type` reports them.
public enum LuaType: Int32, Sendable {
    case none = -1, `nil` = 0, boolean = 1, lightUserdata = 2, number = 3, string = 4, table = 5,
        function = 6, userdata = 7, thread = 8

    /// The name Lua uses in messages (`luaL_typename`).
    public var name: String {
        switch self {
        case .none: "no value"
        case .nil: "nil"
        case .boolean: "boolean"
        case .lightUserdata, .userdata: "userdata"
        case .number: "number"
        case .string: "string"
        case .table: "table"
        case .function: "function"
        case .thread: "thread"
        }
    }
}

/// The stack of a running host call. Every accessor here is non-allocating on the Lua side, so it
/// can never raise.
public struct LuaFrame {
    @usableFromInline let L: OpaquePointer
    let call: UnsafeMutablePointer<tide_call>

    init(_ L: OpaquePointer, call: UnsafeMutablePointer<tide_call>) {
        self.L = L
        self.call = call
    }

    /// Number of arguments.
    @inlinable public var count: Int32 { lua_gettop(L) }

    /// The type of argument `index` (1-based).
    @inlinable public func type(_ index: Int32) -> LuaType { LuaType(rawValue: lua_type(L, index)) ?? .none }

    /// Argument `index` as an integer, if it is a number with an integral value.
    @inlinable public func integer(_ index: Int32) -> Int64? {
        var isNum: Int32 = 0
        let v = lua_tointegerx(L, index, &isNum)
        return isNum != 0 ? v : nil
    }

    /// Argument `index` as a number, if it is a number.
    @inlinable public func number(_ index: Int32) -> Double? {
        guard lua_type(L, index) == LUA_TNUMBER else { return nil }
        return lua_tonumberx(L, index, nil)
    }

    /// Argument `index` as a boolean (Lua truthiness).
    @inlinable public func bool(_ index: Int32) -> Bool { lua_toboolean(L, index) != 0 }

    /// Argument `index` as a string, only if it is a string (numbers are not converted).
    public func string(_ index: Int32) -> String? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = lua_tolstring(L, index, &len) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }

    /// Argument `index` as raw bytes, only if it is a string.
    public func bytes(_ index: Int32) -> [UInt8]? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = lua_tolstring(L, index, &len) else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: len))
    }

    /// The tide task id stored in the running thread (0 for the main state and user coroutines).
    @inlinable public var threadID: Int64 { tide_thread_id(L) }

    /// The running coroutine.
    public var thread: LuaThread { LuaThread(L) }

    /// Whether the running coroutine can yield here.
    @inlinable public var isYieldable: Bool { lua_isyieldable(L) != 0 }

    /// For spawn functions: the coroutine just created, with its body on its stack.
    public var spawnedThread: LuaThread? { call.pointee.thread.map(LuaThread.init) }

    /// For spawn functions: the registry reference anchoring ``spawnedThread``.
    public var spawnedReference: Int32 { call.pointee.ref }
}
