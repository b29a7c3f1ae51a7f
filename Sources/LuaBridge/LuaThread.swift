// LuaThread.swift: a coroutine (or the main thread) of a LuaVM.
import CLua
import CLuaShim

/// A Lua thread. A plain handle: valid while the thread is anchored (registry reference).
public struct LuaThread: Hashable, @unchecked Sendable {
    @usableFromInline let L: OpaquePointer

    init(_ L: OpaquePointer) { self.L = L }

    /// The tide task id stored in the thread's extra space (0: not a task).
    public var id: Int64 {
        get { tide_thread_id(L) }
        nonmutating set { tide_set_thread_id(L, newValue) }
    }

    /// Number of values on the stack.
    @inlinable public var top: Int32 { lua_gettop(L) }

    /// Sets the stack top (dropping values; never allocates).
    @inlinable public func settop(_ n: Int32) { lua_settop(L, n) }

    /// The type of the value at `index`.
    @inlinable public func type(at index: Int32) -> LuaType { LuaType(rawValue: lua_type(L, index)) ?? .none }

    /// The string at `index`, if it is a string.
    public func string(at index: Int32) -> String? {
        guard lua_type(L, index) == LUA_TSTRING else { return nil }
        var len = 0
        guard let p = lua_tolstring(L, index, &len) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }

    /// The integer at `index`, if it is an integral number.
    public func integer(at index: Int32) -> Int64? {
        var isNum: Int32 = 0
        let v = lua_tointegerx(L, index, &isNum)
        return isNum != 0 ? v : nil
    }

    /// Truthiness of the value at `index`.
    public func bool(at index: Int32) -> Bool { lua_toboolean(L, index) != 0 }

    /// Pushes nil (never allocates; a stack always has room for one value after a resume).
    public func pushNil() { lua_pushnil(L) }

    /// A short text for the value at `index` without calling metamethods (for error reports).
    public func describe(at index: Int32) -> String {
        switch type(at: index) {
        case .string: return string(at: index) ?? ""
        case .number:
            if let i = integer(at: index) { return String(i) }
            return String(lua_tonumberx(L, index, nil))
        case .boolean: return bool(at: index) ? "true" : "false"
        case .nil, .none: return "nil"
        case let t: return "(error object is a \(t.name) value)"
        }
    }
}

/// An error from the Lua side of the bridge.
public struct LuaError: Error, Equatable, CustomStringConvertible {
    /// What kind of failure.
    public enum Code: Sendable, Equatable { case runtime, syntax, memory }
    /// The kind of failure.
    public var code: Code
    /// The message, usually `file:line: text`.
    public var message: String

    /// Creates an error.
    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
