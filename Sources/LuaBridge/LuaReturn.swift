// LuaReturn.swift: the values a host function hands back for C to push.
import CLua
import CLuaShim

/// Results of a host call. Nothing is pushed from Swift: C pushes these after the Swift frame has
/// returned, where a memory error may safely raise.
public struct LuaReturn {
    let call: UnsafeMutablePointer<tide_call>
    let scratch: Scratch
    private var stringOffsets: [(slot: Int, offset: Int)] = []

    init(call: UnsafeMutablePointer<tide_call>, scratch: Scratch) {
        self.call = call
        self.scratch = scratch
    }

    private mutating func next() -> Int {
        let n = Int(call.pointee.nret)
        precondition(n < Int(TIDE_MAXRET), "a host function returns at most \(TIDE_MAXRET) values")
        call.pointee.nret += 1
        return n
    }

    private mutating func set(_ slot: Int, _ value: tide_value) {
        withUnsafeMutableBytes(of: &call.pointee.ret) { raw in
            raw.bindMemory(to: tide_value.self)[slot] = value
        }
    }

    /// Returns nil.
    public mutating func pushNil() { set(next(), tide_value(type: Int32(TIDE_VNIL.rawValue), i: 0, n: 0, s: nil, len: 0, from: nil, p: nil)) }

    /// Returns a boolean.
    public mutating func push(_ value: Bool) { set(next(), tide_value(type: Int32(TIDE_VBOOL.rawValue), i: value ? 1 : 0, n: 0, s: nil, len: 0, from: nil, p: nil)) }

    /// Returns an integer.
    public mutating func push(_ value: Int64) { set(next(), tide_value(type: Int32(TIDE_VINT.rawValue), i: value, n: 0, s: nil, len: 0, from: nil, p: nil)) }

    /// Returns an integer.
    public mutating func push(_ value: Int) { push(Int64(value)) }

    /// Returns a float.
    public mutating func push(_ value: Double) { set(next(), tide_value(type: Int32(TIDE_VNUM.rawValue), i: 0, n: value, s: nil, len: 0, from: nil, p: nil)) }

    /// Returns a string (copied; valid until the next host call).
    public mutating func push(_ value: String) {
        var value = value
        value.withUTF8 { push(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Returns a string made of raw bytes.
    public mutating func push(bytes: UnsafeRawBufferPointer) {
        let slot = next()
        let offset = scratch.used
        _ = scratch.append(bytes)
        stringOffsets.append((slot, offset))
        set(slot, tide_value(type: Int32(TIDE_VSTR.rawValue), i: 0, n: 0, s: nil, len: bytes.count, from: nil, p: nil))
    }

    /// Returns a string made of raw bytes.
    public mutating func push(bytes: [UInt8]) {
        bytes.withUnsafeBytes { push(bytes: $0) }
    }

    /// Returns the top `count` values of `thread`, moved (not copied) off its stack.
    public mutating func move(from thread: LuaThread, count: Int32) {
        guard count > 0 else { return }
        set(next(), tide_value(type: Int32(TIDE_VMOVE.rawValue), i: Int64(count), n: 0, s: nil, len: 0, from: thread.L, p: nil))
    }

    /// Releases a registry reference as part of this call.
    public mutating func release(_ ref: Int32) {
        let n = Int(call.pointee.nunref)
        precondition(n < Int(TIDE_MAXUNREF))
        withUnsafeMutableBytes(of: &call.pointee.unref) { $0.bindMemory(to: Int32.self)[n] = ref }
        call.pointee.nunref += 1
    }

    /// Whether more references can be released in this call.
    public var canRelease: Bool { call.pointee.nunref < TIDE_MAXUNREF }

    /// Sets the message for ``LuaAction/error`` or ``LuaAction/argumentError``.
    public mutating func error(_ message: String, argument: Int32 = 0) {
        var message = message
        let offset = scratch.used
        let count = message.withUTF8 { scratch.append(UnsafeRawBufferPointer($0)); return $0.count }
        stringOffsets.append((-1, offset))
        call.pointee.errlen = count
        call.pointee.argn = argument
    }

    /// Resolves string addresses once every value is in place (the scratch buffer may have moved).
    mutating func finalize() {
        for (slot, offset) in stringOffsets {
            let p = UnsafePointer((scratch.buffer + offset).assumingMemoryBound(to: CChar.self))
            if slot < 0 {
                call.pointee.err = p
            } else {
                withUnsafeMutableBytes(of: &call.pointee.ret) { raw in
                    raw.bindMemory(to: tide_value.self)[slot].s = p
                }
            }
        }
    }
}
