// RPCID.swift: a request's id, kept as the bytes the client wrote, so every answer echoes it exactly.

/// A request id (a string, a number or null) as its JSON text.
///
/// JSON-RPC answers a request with "the same value" as its id; a parsed number would not do:
/// 2^53 + 1 and 123456789012345678901234567890 lose digits as a Double, and `1.50`, `-0` and
/// `1e400` come back spelled differently (or not at all). So the id is never parsed into a
/// value: its text is copied from the request and written back byte for byte, strings with the
/// escapes they were sent with.
public struct RPCID: Sendable, Hashable, CustomStringConvertible {
    /// The id's JSON text: a string literal, a number as spelled, or `null`.
    public let json: String

    /// The id of an answer to a request whose id could not be read (a parse error).
    public static let null = RPCID(verbatim: "null")

    /// The id `value` (a client choosing its ids), in compact JSON text.
    public init(_ value: JSONValue) {
        json = value.jsonText
    }

    /// An id exactly as it was written; the caller has checked that it is a JSON string,
    /// number or null.
    init(verbatim json: String) {
        self.json = json
    }

    public var description: String { json }
}
