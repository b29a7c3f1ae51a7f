// RPCFraming.swift: where the control protocol's lines end (SPEC §7: `\n`-terminated, at most 1 MiB).

/// Splits received bytes into lines: a pure function of the bytes, for the daemon's decoder and
/// for fuzzing.
public enum RPCFraming {
    /// What the bytes received so far hold.
    public enum Scan: Equatable, Sendable {
        /// A line of `length` bytes (without its `\n`, or `\r\n`) that takes `consumed` bytes.
        case line(length: Int, consumed: Int)
        /// No whole line yet; the first `scanned` bytes hold no `\n` (scan on from there).
        case needMore(scanned: Int)
        /// The line is longer than the limit: refuse it.
        case tooLong
    }

    /// Finds the first line in `bytes`, of which the first `scanned` bytes are known to hold no
    /// `\n` (so a long line is searched once).
    public static func scan(_ bytes: some Collection<UInt8>, scanned: Int = 0, maxLength: Int = rpcMaxLineBytes) -> Scan {
        let rest = bytes.dropFirst(scanned)
        guard let newline = rest.firstIndex(of: UInt8(ascii: "\n")) else {
            return bytes.count > maxLength ? .tooLong : .needMore(scanned: bytes.count)
        }
        let end = bytes.distance(from: bytes.startIndex, to: newline)
        guard end <= maxLength else { return .tooLong }
        let crlf = end > 0 && bytes[bytes.index(bytes.startIndex, offsetBy: end - 1)] == UInt8(ascii: "\r")
        return .line(length: crlf ? end - 1 : end, consumed: end + 1)
    }

    /// The last line when the input ended: the bytes left without a `\n` still make a line.
    public static func scanLast(_ bytes: some Collection<UInt8>, maxLength: Int = rpcMaxLineBytes) -> Scan {
        switch scan(bytes, maxLength: maxLength) {
        case .needMore(let count) where count > 0:
            let crlf = bytes[bytes.index(bytes.startIndex, offsetBy: count - 1)] == UInt8(ascii: "\r")
            return .line(length: crlf ? count - 1 : count, consumed: count)
        case let other: return other
        }
    }
}
