// ControlClient.swift: the client side of the control socket: one connection, JSON-RPC lines.
import Foundation
import TideProtocol

/// Why a call failed.
enum ClientError: Error {
    /// The daemon is not there (exit code 3).
    case unreachable(String)
    /// The daemon answered with an error.
    case rpc(code: Int, tideCode: String?, message: String)
    /// The connection broke or the answer was not understood.
    case protocolError(String)
}

/// A blocking connection to the daemon (the client does one thing at a time).
final class ControlClient {
    private let fd: Int32
    private var buffer: [UInt8] = []
    private var nextID = 0
    let path: String

    /// Connects to the socket at `path`.
    init(path: String) throws(ClientError) {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .unreachable("cannot create a socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(fd)
            throw .unreachable("the socket path is too long (\(bytes.count) bytes): \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .unreachable("cannot reach the daemon at \(path): \(reason) (is `tide serve` running for this home? see --home, TIDE_HOME and --socket)")
        }
    }

    deinit { close(fd) }

    /// Sends a request and returns its result; notifications that arrive before the response go
    /// to `onNotification`.
    func call(_ method: String, _ params: [String: JSONValue] = [:],
              onNotification: (String, JSONValue) -> Void = { _, _ in }) throws(ClientError) -> JSONValue {
        nextID += 1
        let id = JSONValue.int(Int64(nextID))
        let line = RPCRequest(id: RPCID(id), method: method, params: params.isEmpty ? nil : .object(params)).line()
        do {
            try write(line)
        } catch {
            // the daemon may have refused the connection (another user, too many connections)
            // and closed it before the request went out: its explanation is still to be read
            throw Self.refusal(in: try? readMessage()) ?? error
        }
        while true {
            let message = try readMessage()
            if case .string(let notification)? = message["method"] {
                onNotification(notification, message["params"] ?? .null)
                continue
            }
            // an error with id null answers no request of ours: the daemon refused the
            // connection, or could not read what we sent
            if let refusal = Self.refusal(in: message) { throw refusal }
            guard message["id"] == id else { continue }
            if let error = message["error"] { throw Self.rpcError(error) }
            return message["result"] ?? .null
        }
    }

    /// The error of a message that answers no request (`"id": null`), if it is one.
    private static func refusal(in message: JSONValue?) -> ClientError? {
        guard let message, message["id"] == .null, let error = message["error"] else { return nil }
        return rpcError(error)
    }

    private static func rpcError(_ error: JSONValue) -> ClientError {
        .rpc(code: Int(error["code"]?.number ?? 0), tideCode: error["data"]?["code"]?.string,
             message: error["message"]?.string ?? "unknown error")
    }

    private func write(_ text: String) throws(ClientError) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .protocolError("the connection to the daemon broke: \(String(cString: strerror(errno)))")
            }
            bytes = bytes.dropFirst(n)
        }
    }

    private func readMessage() throws(ClientError) -> JSONValue {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(buffer[..<newline])
                buffer.removeSubrange(...newline)
                guard let value = try? JSONValue(parsing: line) else {
                    throw .protocolError("the daemon sent something that is not JSON")
                }
                return value
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .protocolError("the daemon closed the connection") }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}
