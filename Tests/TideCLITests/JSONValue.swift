// A JSON value decoded from tide's `--json` output, comparable in `#expect`.
import Foundation

/// Any JSON value. Numbers are `Double`s, so `1` and `1.0` compare equal.
enum JSONValue: Sendable, Equatable, Decodable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses `text` as exactly one JSON value (surrounding whitespace allowed, nothing else).
    static func parse(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { o[key] } else { nil }
    }

    var string: String? { if case .string(let s) = self { s } else { nil } }
    var number: Double? { if case .number(let n) = self { n } else { nil } }
    var array: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    var object: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    var isNull: Bool { self == .null }

    var description: String {
        switch self {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? "\(Int(n))" : "\(n)"
        case .string(let s): "\"\(s)\""
        case .array(let a): "[" + a.map(\.description).joined(separator: ",") + "]"
        case .object(let o):
            "{" + o.keys.sorted().map { "\"\($0)\":\(o[$0]!.description)" }.joined(separator: ",") + "}"
        }
    }
}

/// The object `tide exec --json` prints (SPEC §6): run_id, flow, status, result, error, steps, ...
struct ExecReport: Sendable {
    let json: JSONValue

    /// Parses the output of `tide exec --json`; fails unless stdout is exactly one JSON object.
    init(_ output: TideOutput) throws {
        let value = try output.json()
        guard value.object != nil else {
            throw NotAnObject(text: output.stdout)
        }
        json = value
    }

    struct NotAnObject: Error, CustomStringConvertible {
        var text: String
        var description: String { "stdout is JSON but not an object: \(text.prefix(500))" }
    }

    var status: String? { json["status"]?.string }
    var result: JSONValue? { json["result"] }
    var error: JSONValue? { json["error"] }
    var steps: JSONValue? { json["steps"] }
    /// `error.code` when the error is a table with a string code.
    var errorCode: String? { error?["code"]?.string }
    /// `error.message` when present, else the error's JSON text: what a user would read.
    var errorMessage: String {
        if let m = error?["message"]?.string { return m }
        if let s = error?.string { return s }
        return error?.description ?? ""
    }
}
