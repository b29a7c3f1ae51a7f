// RPCResponse.swift: the answer to one request, written as the line the daemon sends.

/// A JSON-RPC response: a result or an error, for a request's id.
public struct RPCResponse: Sendable, Equatable {
    /// The request's id, echoed as it came (``RPCID/null`` when it could not be read).
    public var id: RPCID
    /// The result, or the error.
    public var outcome: Result<JSONValue, RPCError>

    /// Creates a response.
    public init(id: RPCID, outcome: Result<JSONValue, RPCError>) {
        self.id = id
        self.outcome = outcome
    }

    /// A success response.
    public static func result(_ value: JSONValue, id: RPCID) -> RPCResponse {
        RPCResponse(id: id, outcome: .success(value))
    }

    /// Appends the response's JSON text: `{"jsonrpc":"2.0","id":…,"result":…}` or `…"error":{…}}`.
    public func write(into out: inout [UInt8]) {
        out.append(contentsOf: #"{"jsonrpc":"2.0","id":"#.utf8)
        out.append(contentsOf: id.json.utf8)
        switch outcome {
        case .success(let result):
            out.append(contentsOf: #","result":"#.utf8)
            result.write(into: &out)
        case .failure(let error):
            out.append(contentsOf: #","error":"#.utf8)
            error.object.write(into: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// A batch's answer: the responses as one JSON array.
    public static func write(batch responses: [RPCResponse], into out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, response) in responses.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            response.write(into: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    /// The response's JSON text.
    public var jsonText: String {
        var out: [UInt8] = []
        write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
