// JSONText.swift: reading and writing JSON text for JSONValue, without Codable.
//
// Every request line, response and run record of the daemon passes through JSONValue. Through
// Codable, a JSONValue is decoded by trying each type in turn (each failure throws and builds a
// coding path), and encoding an Encodable meant encoding it, then decoding the text again: the
// profile of trivial runs showed a tenth of the daemon's CPU there. This reader and writer are
// specific to JSONValue; Codable remains for typed messages.

/// Why JSON text could not be read.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    /// Byte offset of the problem in the input.
    public let offset: Int
    public let reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// Nesting deeper than this is refused (as Foundation's JSONDecoder does), so a line of a
    /// million `[` is an error, not a stack overflow.
    public static let maximumDepth = 512

    /// Parses one JSON value (RFC 8259; surrounding whitespace allowed; invalid UTF-8 refused).
    public init(parsing bytes: some Collection<UInt8>) throws(JSONParseError) {
        let array = Array(bytes)
        var reader = JSONReader(bytes: array)
        self = try reader.document()
    }

    /// Parses JSON text; nil when it is not valid JSON.
    public init?(text: String?) {
        guard var utf8 = text else { return nil }
        let value: JSONValue? = utf8.withUTF8 { buffer in
            var reader = JSONReader(bytes: buffer)
            return try? reader.document()
        }
        guard let value else { return nil }
        self = value
    }

    /// Compact JSON text of the value (slashes not escaped; integral doubles without a fraction).
    public var jsonText: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the value's compact JSON text to `out`.
    public func write(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): JSONValue.writeNumber(d, into: &out)
        case .string(let s): JSONValue.writeString(s, into: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                item.write(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            var first = true
            for (key, value) in members {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSONValue.writeString(key, into: &out)
                out.append(UInt8(ascii: ":"))
                value.write(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string literal of `text`.
    public static func quoted(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count + 2)
        writeString(text, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func writeNumber(_ d: Double, into out: inout [UInt8]) {
        guard d.isFinite else {
            out.append(contentsOf: "null".utf8)  // JSON has no NaN or infinity
            return
        }
        if d == d.rounded(), abs(d) < 1e15 {
            out.append(contentsOf: String(Int64(d)).utf8)
        } else {
            out.append(contentsOf: "\(d)".utf8)  // shortest round-trip form, e.g. 0.1, 1e+20
        }
    }

    static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
            case 0x0A: out.append(contentsOf: #"\n"#.utf8)
            case 0x0D: out.append(contentsOf: #"\r"#.utf8)
            case 0x09: out.append(contentsOf: #"\t"#.utf8)
            case 0x08: out.append(contentsOf: #"\b"#.utf8)
            case 0x0C: out.append(contentsOf: #"\f"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: #"\u00"#.utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 15)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
