// RPC.swift: JSON-RPC 2.0 messages of the control protocol (SPEC §7), one JSON object per line.
import Foundation

/// The limit on one line of the protocol (SPEC §7: 1 MiB); a longer line closes the connection.
public let rpcMaxLineBytes = 1 << 20

/// A request or notification as received. `id` is absent for notifications.
public struct RPCRequest: Sendable {
    /// The request's id (a string, a number or null) as it was written, nil for a notification.
    public var id: RPCID?
    public var method: String
    /// The `params` member: an object, an array, or nil.
    public var params: JSONValue?

    /// Creates a request.
    public init(id: RPCID?, method: String, params: JSONValue?) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// Reads a request from a parsed JSON value, or says why it is not one (-32600). `idText`
    /// is the id member's JSON text as the client wrote it (see ``RPCInput``); without it, the
    /// id is the parsed value's canonical text.
    public init(validating value: JSONValue, idText: String? = nil) throws(RPCError) {
        guard case .object(let members) = value else {
            throw RPCError(.invalidRequest, "a request must be a JSON object, e.g. {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.status\"}")
        }
        let id: RPCID?
        switch members["id"] {
        case nil: id = nil
        case let value? where value.isIDValue: id = idText.map(RPCID.init(verbatim:)) ?? RPCID(value)
        default: throw RPCError(.invalidRequest, "'id' must be a string, a number or null")
        }
        guard members["jsonrpc"] == .string("2.0") else {
            throw RPCError(.invalidRequest, "'jsonrpc' must be \"2.0\"", id: id)
        }
        guard case .string(let method)? = members["method"] else {
            throw RPCError(.invalidRequest, "'method' must be a string", id: id)
        }
        let params = members["params"]
        switch params {
        case nil, .object?, .array?: break
        default: throw RPCError(.invalidRequest, "'params' must be an object or an array", id: id)
        }
        self.init(id: id, method: method, params: params)
    }

    /// The request as one line of JSON (with its `\n`).
    public func line() -> String {
        var out = Array(#"{"jsonrpc":"2.0""#.utf8)
        if let id {
            out.append(contentsOf: #","id":"#.utf8)
            out.append(contentsOf: id.json.utf8)
        }
        out.append(contentsOf: #","method":"#.utf8)
        JSONValue.writeString(method, into: &out)
        if let params {
            out.append(contentsOf: #","params":"#.utf8)
            params.write(into: &out)
        }
        out.append(contentsOf: "}\n".utf8)
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Parameters

    /// A named parameter (nil when absent or null).
    public func param(_ name: String) -> JSONValue? {
        guard case .object(let members)? = params, let value = members[name], value != .null else { return nil }
        return value
    }

    /// A required string parameter.
    public func string(_ name: String) throws(RPCError) -> String {
        guard let value = try optionalString(name) else {
            throw RPCError(.invalidParams, "missing parameter '\(name)' (a string)", id: id)
        }
        return value
    }

    /// An optional string parameter.
    public func optionalString(_ name: String) throws(RPCError) -> String? {
        guard let value = param(name) else { return nil }
        guard case .string(let s) = value else {
            throw RPCError(.invalidParams, "parameter '\(name)' must be a string, got \(value.typeName)", id: id)
        }
        return s
    }

    /// An optional boolean parameter.
    public func bool(_ name: String) throws(RPCError) -> Bool {
        guard let value = param(name) else { return false }
        guard case .bool(let b) = value else {
            throw RPCError(.invalidParams, "parameter '\(name)' must be true or false, got \(value.typeName)", id: id)
        }
        return b
    }

    /// An optional positive integer parameter.
    public func positiveInt(_ name: String) throws(RPCError) -> Int? {
        guard let value = param(name) else { return nil }
        switch value {
        case .int(let i) where i > 0 && i <= Int64(Int32.max): return Int(i)
        case .double(let d) where d > 0 && d <= Double(Int32.max) && d == d.rounded(): return Int(d)
        default: throw RPCError(.invalidParams, "parameter '\(name)' must be a positive integer, got \(value.jsonText)", id: id)
        }
    }

    /// Rejects parameters that the method does not know (a typo would otherwise be ignored).
    public func expectParams(_ known: Set<String>) throws(RPCError) {
        switch params {
        case nil: return
        case .object(let members)?:
            if let unknown = members.keys.sorted().first(where: { !known.contains($0) }) {
                let list = known.isEmpty ? "none" : known.sorted().joined(separator: ", ")
                throw RPCError(.invalidParams, "unknown parameter '\(unknown)' for \(method) (parameters: \(list))", id: id)
            }
        default:
            throw RPCError(.invalidParams, "\(method) takes named parameters (an object)", id: id)
        }
    }
}

/// A JSON-RPC error, with tide's stable `data.code` for its own errors.
public struct RPCError: Error, Sendable, Equatable {
    /// The error codes of JSON-RPC 2.0 and tide's own range (-32000...-32099).
    public enum Code: Int, Sendable {
        case parseError = -32700
        case invalidRequest = -32600
        case methodNotFound = -32601
        case invalidParams = -32602
        case internalError = -32603
        /// tide's own errors; `data.code` says which.
        case tide = -32000
    }

    public var code: Int
    public var message: String
    /// tide's error code (`flow_not_found`, `run_not_found`, ...), for `code == -32000`.
    public var tideCode: String?
    /// The request's id, to answer it (nil: answer with `"id": null`).
    public var id: RPCID?

    /// A protocol error.
    public init(_ code: Code, _ message: String, id: RPCID? = nil) {
        self.code = code.rawValue
        self.message = message
        self.id = id
    }

    /// One of tide's errors, with its stable code.
    public init(tide tideCode: String, _ message: String, id: RPCID? = nil) {
        self.code = Code.tide.rawValue
        self.message = message
        self.tideCode = tideCode
        self.id = id
    }

    /// The same error answering `id`.
    public func answering(_ id: RPCID?) -> RPCError {
        var copy = self
        copy.id = id
        return copy
    }

    /// The error response (to `id`, else with `"id": null`).
    public var response: RPCResponse {
        RPCResponse(id: id ?? .null, outcome: .failure(self))
    }

    /// The response's `error` member: `{code, message, data?: {code}}`.
    public var object: JSONValue {
        var error: [String: JSONValue] = ["code": .int(Int64(code)), "message": .string(message)]
        if let tideCode { error["data"] = .object(["code": .string(tideCode)]) }
        return .object(error)
    }
}

/// Builds the notifications the daemon writes.
public enum RPCMessage {
    /// A notification (no id).
    public static func notification(_ method: String, _ params: JSONValue) -> JSONValue {
        .object(["jsonrpc": .string("2.0"), "method": .string(method), "params": params])
    }
}

extension JSONValue {
    /// Whether this may be a request's id: a string, a number or null.
    var isIDValue: Bool {
        switch self {
        case .null, .string, .int, .double: true
        default: false
        }
    }

    /// The JSON type's name, for messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Any Encodable as a JSON value.
    public init<T: Encodable>(encoding value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        guard let data = try? encoder.encode(value), let parsed = try? JSONValue(parsing: data) else {
            self = .null
            return
        }
        self = parsed
    }

    /// Decodes this value as `T`.
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(jsonText.utf8))
    }

    /// The number, if this is a number.
    public var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }
}
