// RPCInput.swift: one line read from the control socket, parsed into what the daemon must answer.

/// A line of the control protocol, parsed: a request, a batch, or an error to answer at once.
///
/// A pure function of the line's bytes (no I/O, no state), the one place where requests are
/// read, so a fuzz target can call it directly. Every id is kept as the bytes it was written
/// with (``RPCID``).
public enum RPCInput: Sendable {
    /// One request (or notification), or the error to answer it with (-32600).
    case single(Result<RPCRequest, RPCError>)
    /// A batch's items in order, each a request or the error to answer it with.
    case batch([Result<RPCRequest, RPCError>])
    /// Nothing to serve: the line is not JSON (-32700), or an empty batch (-32600); answered with
    /// this error, id null.
    case invalid(RPCError)

    /// Parses one line (without its newline).
    public init(line: some Collection<UInt8>) {
        let bytes = Array(line)
        var reader = JSONReader(bytes: bytes)
        func item(_ reader: inout JSONReader<[UInt8]>) throws(JSONParseError) -> Result<RPCRequest, RPCError> {
            let (value, span) = try reader.value(capturing: "id")
            let idText = span.map { String(decoding: bytes[$0], as: UTF8.self) }
            // an invalid request answers its id when the id itself was valid
            do throws(RPCError) {
                return .success(try RPCRequest(validating: value, idText: idText))
            } catch {
                return .failure(error)
            }
        }
        do {
            if reader.startsArray {
                let items = try reader.document { reader throws(JSONParseError) in try reader.array(item) }
                self = items.isEmpty ? .invalid(RPCError(.invalidRequest, "an empty batch")) : .batch(items)
            } else {
                self = .single(try reader.document(item))
            }
        } catch {
            self = .invalid(RPCError(.parseError, "not valid JSON: \(error)"))
        }
    }
}

extension JSONReader {
    /// Whether the first value (after space) is an array.
    var startsArray: Bool {
        var i = index
        while i < bytes.endIndex, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
        return i < bytes.endIndex && bytes[i] == UInt8(ascii: "[")
    }
}
