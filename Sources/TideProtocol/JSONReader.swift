// JSONReader.swift: the one JSON parser of tide (RFC 8259 over UTF-8 bytes), for JSONValue and the
// control protocol's request lines.

/// A recursive-descent reader over UTF-8 bytes.
struct JSONReader<Bytes: RandomAccessCollection<UInt8>> where Bytes.Index == Int {
    let bytes: Bytes
    var index: Int
    var depth = 0

    init(bytes: Bytes) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    mutating func document() throws(JSONParseError) -> JSONValue {
        try document { reader throws(JSONParseError) in try reader.value() }
    }

    /// The whole input as one value read by `read`, with nothing but space around it.
    mutating func document<T>(_ read: (inout Self) throws(JSONParseError) -> T) throws(JSONParseError) -> T {
        skipSpace()
        let value = try read(&self)
        skipSpace()
        guard index == bytes.endIndex else { throw fail("unexpected text after the value") }
        return value
    }

    /// A value; when it is an object, also the bytes of its member `key`'s value, exactly as
    /// written (a number there may be out of Double's range: its text is what counts).
    mutating func value(capturing key: String) throws(JSONParseError) -> (value: JSONValue, captured: Range<Int>?) {
        guard current == UInt8(ascii: "{") else { return (try value(), nil) }
        return try object(capturing: key)
    }

    func fail(_ reason: String) -> JSONParseError {
        JSONParseError(offset: index - bytes.startIndex, reason: reason)
    }

    var current: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

    mutating func skipSpace() {
        while index < bytes.endIndex {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    mutating func value() throws(JSONParseError) -> JSONValue {
        guard let byte = current else { throw fail("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try object(capturing: nil).value
        case UInt8(ascii: "["): return .array(try array { reader throws(JSONParseError) in try reader.value() })
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character \(Self.show(byte))")
        }
    }

    static func show(_ byte: UInt8) -> String {
        (0x21..<0x7F).contains(byte) ? "'\(Character(UnicodeScalar(byte)))'" : "byte 0x\(String(byte, radix: 16))"
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let count = word.utf8CodeUnitCount
        guard bytes.endIndex - index >= count else { throw fail("invalid literal") }
        let start = word.utf8Start
        for i in 0..<count where bytes[index + i] != start[i] {
            throw fail("invalid literal")
        }
        index += count
    }

    mutating func enter() throws(JSONParseError) {
        depth += 1
        if depth > JSONValue.maximumDepth { throw fail("nested deeper than \(JSONValue.maximumDepth) levels") }
    }

    mutating func object(capturing captureKey: String?) throws(JSONParseError) -> (value: JSONValue, captured: Range<Int>?) {
        try enter()
        index += 1
        var members: [String: JSONValue] = [:]
        var captured: Range<Int>?
        skipSpace()
        if current == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return (.object(members), nil)
        }
        while true {
            skipSpace()
            guard current == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard current == UInt8(ascii: ":") else { throw fail("expected ':' after an object key") }
            index += 1
            skipSpace()
            if key == captureKey {
                let start = index
                let isNumber = current == UInt8(ascii: "-") || (current.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? false)
                if isNumber { members[key] = try number(inRange: false) } else { members[key] = try value() }
                captured = start..<index  // the last of repeated keys, like `members`
            } else {
                members[key] = try value()
            }
            skipSpace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return (.object(members), captured)
            default: throw fail("expected ',' or '}' in an object")
            }
        }
    }

    /// An array whose items `item` reads.
    mutating func array<T>(_ item: (inout Self) throws(JSONParseError) -> T) throws(JSONParseError) -> [T] {
        try enter()
        index += 1
        var items: [T] = []
        skipSpace()
        if current == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return items
        }
        while true {
            skipSpace()
            items.append(try item(&self))
            skipSpace()
            switch current {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return items
            default: throw fail("expected ',' or ']' in an array")
            }
        }
    }

    mutating func string() throws(JSONParseError) -> String {
        index += 1  // the opening quote
        let start = index
        // fast path: no escapes
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = try validated(bytes[start..<index], at: start)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("control character in a string") }
            index += 1
        }
        var buffer = Array(bytes[start..<index])
        while true {
            guard let byte = current else { throw fail("unterminated string") }
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return try validated(buffer, at: start)
            case UInt8(ascii: "\\"):
                index += 1
                guard let escape = current else { throw fail("unterminated string") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escape)
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // a high surrogate must be followed by an escaped low one
                        guard current == UInt8(ascii: "\\"), index + 1 < bytes.endIndex, bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate in \\u escape") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate in \\u escape")
                    }
                    buffer.append(contentsOf: String(Character(UnicodeScalar(scalar)!)).utf8)
                default:
                    index -= 1
                    throw fail("invalid escape \\\(Self.show(escape))")
                }
            default:
                if byte < 0x20 { throw fail("control character in a string") }
                buffer.append(byte)
                index += 1
            }
        }
    }

    func validated(_ utf8: some Collection<UInt8>, at offset: Int) throws(JSONParseError) -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw JSONParseError(offset: offset - bytes.startIndex, reason: "invalid UTF-8 in a string")
        }
        return text
    }

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard bytes.endIndex - index >= 4 else { throw fail("invalid \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// A number; with `inRange` false, one beyond Double's range (1e400) is read as an infinity
    /// instead of refused (for an id, whose text is what counts).
    mutating func number(inRange: Bool = true) throws(JSONParseError) -> JSONValue {
        let start = index
        if current == UInt8(ascii: "-") { index += 1 }
        guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw fail("invalid number") }
        index += 1
        if first != UInt8(ascii: "0") { digits() }
        var integral = true
        if current == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard digits() > 0 else { throw fail("invalid number: digits expected after '.'") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            integral = false
            index += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw fail("invalid number: digits expected in the exponent") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if integral, let int = Int64(text) { return .int(int) }
        guard let double = Double(text), double.isFinite || !inRange else { throw fail("number out of range") }
        return .double(double)
    }

    @discardableResult
    mutating func digits() -> Int {
        let start = index
        while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
        return index - start
    }
}
