// RPC.swift: JSON-RPC 2.0 messages of the control protocol (SPEC §7), one JSON object per line.
import Foundation

/// The limit on one line of the protocol (SPEC §7: 1 MiB); a longer line closes the connection.
public let rpcMaxLineBytes = 1 << 20

/// A request or notification as received. `id` is absent for notifications.
public struct RPCRequest: Sendable {
    /// The request's id (a string, a number or null), nil for a notification.
    public var id: JSONValue?
    public var method: String
    /// The `params` member: an object, an array, or nil.
    public var params: JSONValue?

    /// Creates a request.
    public init(id: JSONValue?, method: String, params: JSONValue?) {
        self.id = id
        self.method = method
        self.params = params
    }

    /// Reads a request from a parsed JSON value, or says why it is not one (-32600).
    public init(validating value: JSONValue) throws(RPCError) {
        guard case .object(let members) = value else {
            throw RPCError(.invalidRequest, "a request must be a JSON object, e.g. {\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.status\"}")
        }
        let id = members["id"]
        switch id {
        case nil, .null?, .string?, .int?, .double?: break
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
        var members: [String: JSONValue] = ["jsonrpc": .string("2.0"), "method": .string(method)]
        if let id { members["id"] = id }
        if let params { members["params"] = params }
        return JSONValue.object(members).jsonText + "\n"
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
    public var id: JSONValue?

    /// A protocol error.
    public init(_ code: Code, _ message: String, id: JSONValue? = nil) {
        self.code = code.rawValue
        self.message = message
        self.id = id
    }

    /// One of tide's errors, with its stable code.
    public init(tide tideCode: String, _ message: String, id: JSONValue? = nil) {
        self.code = Code.tide.rawValue
        self.message = message
        self.tideCode = tideCode
        self.id = id
    }

    /// The same error answering `id`.
    public func answering(_ id: JSONValue?) -> RPCError {
        var copy = self
        copy.id = id
        return copy
    }

    /// The error response as a JSON value.
    public var response: JSONValue {
        var error: [String: JSONValue] = ["code": .int(Int64(code)), "message": .string(message)]
        if let tideCode { error["data"] = .object(["code": .string(tideCode)]) }
        return .object(["jsonrpc": .string("2.0"), "id": id ?? .null, "error": .object(error)])
    }
}

/// Builds the lines the daemon writes.
public enum RPCMessage {
    /// A success response.
    public static func result(_ result: JSONValue, id: JSONValue) -> JSONValue {
        .object(["jsonrpc": .string("2.0"), "id": id, "result": result])
    }

    /// A notification (no id).
    public static func notification(_ method: String, _ params: JSONValue) -> JSONValue {
        .object(["jsonrpc": .string("2.0"), "method": .string(method), "params": params])
    }
}

extension JSONValue {
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
