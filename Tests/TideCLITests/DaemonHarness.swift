// DaemonHarness.swift: starts the real `tide serve` on a temporary home and socket, and talks to it.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A `tide serve` process on a scratch home; `stop()` or the end of `withDaemon` ends it.
final class RunningDaemon: @unchecked Sendable {
    let home: ScratchDirectory
    let socket: String
    let process: Process
    let logURL: URL
    let extraArguments: [String]

    /// The daemon's log so far (its standard error).
    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    var pid: Int32 { process.processIdentifier }

    /// Starts `tide serve --home HOME --socket SOCKET ARGS...` and waits until the socket answers.
    /// A `launcher` (e.g. `["/usr/bin/prlimit", "--nofile=256", "--"]`) runs first and execs tide,
    /// so `pid` is still the daemon's.
    init(home: ScratchDirectory, socket: String? = nil, arguments: [String] = [], launcher: [String] = [],
         waitForSocket: Bool = true) async throws {
        self.home = home
        self.socket = socket ?? home.path + "/.tide/tide.sock"
        self.extraArguments = arguments
        logURL = home.url.appending(path: "daemon-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let handle = try FileHandle(forWritingTo: logURL)
        process = Process()
        let command = launcher + [try TideProcess.binary.path, "serve", "--home", home.path, "--socket", self.socket,
                                  "--log-level", "debug"] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try ChildLauncher.run(process)
        try? handle.close()
        if waitForSocket {
            let ready = await waitUntil(timeout: .seconds(20)) { [socket = self.socket, process] in
                !process.isRunning || RawConnection.canConnect(socket)
            }
            guard ready, process.isRunning else {
                throw HarnessError("tide serve did not start listening on \(self.socket); its log:\n\(log)")
            }
        }
    }

    /// Runs a client command against this daemon.
    func tide(_ arguments: [String], launcher: [String] = [], timeout: Duration = .seconds(60),
              sourceLocation: SourceLocation = #_sourceLocation) async throws -> TideOutput {
        try await TideProcess.run(arguments + ["--socket", socket], in: home.url, timeout: timeout, launcher: launcher,
                                  sourceLocation: sourceLocation)
    }

    /// Sends a signal and waits for the process to exit; returns its exit status.
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(30)) async -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        let exited = await waitUntil(timeout: timeout) { [process] in !process.isRunning }
        if !exited {
            kill(process.processIdentifier, SIGKILL)
            _ = await waitUntil(timeout: .seconds(5)) { [process] in !process.isRunning }
            Issue.record("tide serve did not exit within \(timeout) after signal \(signal); log:\n\(log)")
        }
        return process.terminationStatus
    }

    /// Opens a raw connection to the socket.
    func connect() throws -> RawConnection {
        try RawConnection(path: socket)
    }

    /// Sends one request line and returns the response with its id (notifications skipped).
    func call(_ method: String, _ params: [String: any Sendable] = [:]) async throws -> JSONResponse {
        let socket = self.socket
        return try await blocking {
            let c = try RawConnection(path: socket)
            return JSONResponse(try c.request(method, params))
        }
    }
}

/// Runs `body` with a daemon on a fresh scratch home, stopping it afterwards.
func withDaemon<T>(
    files: [String: String] = [:], arguments: [String] = [], socket: String? = nil, launcher: [String] = [],
    _ body: (RunningDaemon) async throws -> T
) async throws -> T {
    try await withScratchDirectory { home in
        for (name, text) in files { try home.write(name, text) }
        let daemon = try await RunningDaemon(home: home, socket: socket.map { home.path + "/" + $0 }, arguments: arguments,
                                             launcher: launcher)
        do {
            let result = try await body(daemon)
            await daemon.stop()
            return result
        } catch {
            await daemon.stop(signal: SIGKILL)
            throw error
        }
    }
}

/// A response object, carried across threads (its values are plain JSON).
struct JSONResponse: @unchecked Sendable {
    let object: [String: Any]
    init(_ object: [String: Any]) { self.object = object }
    subscript(key: String) -> Any? { object[key] }
}

struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Polls `condition` every 20 ms (without blocking a thread) until it holds or `timeout` passes.
func waitUntil(timeout: Duration, _ condition: @escaping @Sendable () -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

/// Polls an async `condition` (a request to the daemon) every 20 ms until it holds or `timeout` passes.
func waitUntil(timeout: Duration, _ condition: @escaping @Sendable () async -> Bool) async -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while clock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}

/// Runs blocking work on a thread of its own, so the test's cooperative threads stay free.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}

/// A plain blocking Unix-socket connection that writes and reads JSON lines.
final class RawConnection: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var nextID = 0

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes.prefix(raw.count - 1))
            raw[min(bytes.count, raw.count - 1)] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            let reason = String(cString: strerror(errno))
            // no close(fd) here: self is fully initialized, so deinit runs even though init throws;
            // closing here too closed the descriptor twice (the second time, another thread's new one)
            throw HarnessError("cannot connect to \(path): \(reason)")
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)  // a hung daemon fails the test instead of hanging it
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// Whether something accepts connections at `path`.
    static func canConnect(_ path: String) -> Bool {
        (try? RawConnection(path: path)) != nil
    }

    /// Writes raw bytes.
    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw HarnessError("send failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// Reads one line (without its newline); nil when the daemon closed the connection.
    func readLine() throws -> String? {
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw HarnessError("no answer from the daemon: \(String(cString: strerror(errno)))")
            }
            if n == 0 { return nil }
            buffer.append(contentsOf: chunk[..<n])
        }
    }

    /// Reads one line parsed as a JSON object.
    func readMessage() throws -> [String: Any]? {
        guard let line = try readLine() else { return nil }
        guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed]) as? [String: Any] else {
            throw HarnessError("not a JSON object: \(line)")
        }
        return object
    }

    /// Sends a request and returns its response (notifications before it are passed to `onNotification`).
    func request(_ method: String, _ params: [String: Any] = [:], onNotification: ([String: Any]) -> Void = { _ in }) throws -> [String: Any] {
        nextID += 1
        let id = nextID
        var message: [String: Any] = ["jsonrpc": "2.0", "id": id, "method": method]
        if !params.isEmpty { message["params"] = params }
        let data = try JSONSerialization.data(withJSONObject: message)
        try send(String(decoding: data, as: UTF8.self) + "\n")
        while true {
            guard let response = try readMessage() else { throw HarnessError("the daemon closed the connection during \(method)") }
            if response["id"] == nil { onNotification(response); continue }
            if (response["id"] as? Int) == id { return response }
        }
    }
}

extension RawConnection {
    /// True when the daemon has closed the connection (EOF or reset) without sending more lines.
    func isClosedByDaemon() throws -> Bool {
        do {
            guard let line = try readLine() else { return true }
            throw HarnessError("expected the connection to be closed, got: \(line.prefix(300))")
        } catch let error as HarnessError where error.description.contains("reset") {
            return true
        }
    }

    /// Closes the client's side (the daemon sees the client go away, mid-request or not).
    func hangUp() {
        shutdown(fd, Int32(SHUT_RDWR))
    }
}
