// ClientOptions.swift: how client commands find the daemon, and how they report its errors.
import ArgumentParser
import Foundation
import TideProtocol

/// The options every client command shares.
struct ClientOptions: ParsableArguments {
    @OptionGroup var home: HomeOptions

    @Option(name: .long, help: "The daemon's control socket (default: $TIDE_SOCKET, else HOME/.tide/tide.sock).")
    var socket: String?

    @Flag(name: .long, help: "Print JSON on standard output.")
    var json = false

    /// The socket path.
    var socketPath: String {
        socket ?? ProcessInfo.processInfo.environment["TIDE_SOCKET"] ?? home.path + "/.tide/tide.sock"
    }

    /// Connects, or exits 3 with a message.
    func connect() throws -> ControlClient {
        do {
            return try ControlClient(path: socketPath)
        } catch {
            throw report(error)
        }
    }

    /// Calls one method, mapping failures to SPEC §6's exit codes.
    func call(_ method: String, _ params: [String: JSONValue] = [:]) throws -> JSONValue {
        let client = try connect()
        do {
            return try client.call(method, params)
        } catch {
            throw report(error)
        }
    }

    /// Prints the error and returns the exit code to throw: 3 when the daemon is unreachable or
    /// refused the connection (another user, too many connections), 1 otherwise.
    func report(_ error: ClientError) -> ExitCode {
        switch error {
        case .unreachable(let message):
            printError("tide: \(message)")
            return ExitCode(3)
        case .rpc(_, let code?, let message) where Self.refusals.contains(code):
            printError("tide: the daemon at \(socketPath) refused the connection (\(code)): \(message)")
            return ExitCode(3)
        case .rpc(_, _, let message):
            printError("tide: \(message)")
            return ExitCode(1)
        case .protocolError(let message):
            printError("tide: \(message)")
            return ExitCode(3)
        }
    }

    /// The daemon's `data.code`s for a connection it will not serve.
    static let refusals: Set = ["permission_denied", "too_many_connections"]

    /// Prints a JSON value on one line.
    func printJSON(_ value: JSONValue) {
        print(value.jsonText)
    }
}

extension ClientOptions {
    /// A JSON object of the non-nil parameters.
    static func params(_ pairs: [String: JSONValue?]) -> [String: JSONValue] {
        pairs.compactMapValues { $0 }
    }
}

/// "12:03:04" today, else "Nov 20 12:03".
func shortTime(_ iso: String?) -> String {
    guard let iso, let seconds = parseISOTimestamp(iso) else { return "-" }
    let date = Date(timeIntervalSince1970: seconds)
    let formatter = DateFormatter()
    formatter.dateFormat = Calendar.current.isDateInToday(date) ? "HH:mm:ss" : "MMM dd HH:mm"
    return formatter.string(from: date)
}

/// Pads or cuts `text` to `width` columns.
func column(_ text: String, _ width: Int) -> String {
    let text = printable(text)
    if text.count > width { return String(text.prefix(max(0, width - 1))) + "…" }
    return text + String(repeating: " ", count: width - text.count)
}

/// `text` in `width` columns, cut at the start when longer (a path keeps its file name and line).
func columnKeepingEnd(_ text: String, _ width: Int) -> String {
    let text = printable(text)
    if text.count > width { return "…" + String(text.suffix(max(0, width - 1))) }
    return text + String(repeating: " ", count: width - text.count)
}

/// A status with a mark: ✓ succeeded, ✗ failed, ...
func statusMark(_ status: String) -> String {
    switch status {
    case "succeeded": "✓"
    case "failed", "interrupted": "✗"
    case "cancelled": "⊘"
    case "running": "▶"
    case "queued": "…"
    default: "?"
    }
}
