// ControlHardeningTests.swift: the control socket against careless and hostile clients (issue 11):
// a client that pipelines without reading, followers that do not read, thousands of idle
// connections, request ids that a Double cannot hold, a half-closed last request, another user.
//
// Everything runs against the real `tide serve` over its real socket. Memory is the daemon's
// peak resident set (VmHWM in /proc/PID/status, reset through /proc/PID/clear_refs before the
// client misbehaves); waits are for conditions, with deadlines.
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("control hardening")
struct ControlHardeningTests {
    // MARK: - Back-pressure

    @Test("a client pipelining 30,000 requests without reading: the daemon stops reading it, holds at most 50 MB for it, serves others; then every answer arrives")
    func pipeliningWithoutReading() async throws {
        let count = 30_000
        try await withDaemon { d in
            try await CH.warmUp(d)
            let baseline = try CH.resetPeak(d.pid)
            let pipeliner = try CH.Pipeliner(d.socket, lines: (1...count).map { CH.line(id: $0, "daemon.status") })
            defer { pipeliner.close() }
            // the writer blocks (the daemon stopped reading) or has written everything
            let settled = await waitUntil(timeout: .seconds(120)) { pipeliner.blocked || pipeliner.finished }
            #expect(settled, "the pipelining writer neither finished nor blocked")
            // another client is served meanwhile
            let clock = ContinuousClock()
            let start = clock.now
            let status = try await CH.result(d, "daemon.status")
            let waited = clock.now - start
            #expect(status["version"]?.string != nil, "\(status)")
            #expect(waited < .seconds(10), "another client waited \(waited) behind the pipelining one")

            // now read every answer; the writer goes on as the daemon reads again
            let ids = try await blocking { try pipeliner.readAnswers(count) }
            let peak = try CH.peakGrowth(d.pid, since: baseline)
            #expect(peak < 50, "the daemon's resident memory grew by \(Int(peak)) MB for one client's unread answers")
            #expect(ids.count == count, "\(ids.count) answers to \(count) requests")
            #expect(Set(ids) == Set(1...count), "answers missing or repeated: \(Set(1...count).subtracting(ids).sorted().prefix(10))")
            #expect(try await CH.result(d, "daemon.status")["version"]?.string != nil)
        }
    }

    // MARK: - Slow followers

    @Test("followers that do not read while a run logs 70,000 lines (more than the old 65,536-event queue): the run finishes, others are served, memory stays bounded; run.logs then delivers every line once, in order; events.subscribe gets events.dropped")
    func followersThatDoNotRead() async throws {
        let lines = 70_000
        let flow = """
            flow { name = "loud", run = function(ctx)
              \(CH.gateWait)
              for i = 1, \(lines) do log(string.format("line %06d %s", i, string.rep("x", 60))) end
              return "done"
            end }
            """
        try await withDaemon(files: ["flows/loud.lua": flow]) { d in
            try await CH.warmUp(d)
            let gate = d.home.path + "/gate"
            let started = try await CH.result(d, "run.start", ["flow": "loud", "payload": ["gate": gate]])
            let id = try #require(started["run_id"]?.string, "\(started)")
            // two followers that read nothing from here on: their requests are answered
            // (subscribe) or registered (run.logs) once a daemon.status behind them is answered
            let follower = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                try c.send(CH.line(id: "logs", "run.logs", ["run_id": id, "follow": true]))
                _ = try CH.call(c, id: "sync", "daemon.status")
                return c
            }
            let subscriber = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                _ = try CH.call(c, id: "sub", "events.subscribe", [:])
                return c
            }
            defer { follower.hangUp(); subscriber.hangUp() }
            let baseline = try CH.resetPeak(d.pid)
            try d.home.write("gate", "")
            let run = try await CH.finishedRun(d, id, timeout: .seconds(120))
            #expect(run["status"] == .string("succeeded"), "the run did not finish while its followers did not read: \(run)")
            let clock = ContinuousClock()
            let start = clock.now
            #expect(try await CH.result(d, "daemon.status")["version"]?.string != nil)
            #expect(clock.now - start < .seconds(10), "another client waited \(clock.now - start)")
            let peak = try CH.peakGrowth(d.pid, since: baseline)
            #expect(peak < 50, "the daemon's resident memory grew by \(Int(peak)) MB for two followers that did not read")

            // run.logs {follow}: every line, once, in order, then the answer
            let (logged, answer) = try await blocking { try CH.readFollowed(follower) }
            #expect(answer["result"]?["status"] == .string("succeeded"), "\(answer)")
            #expect(logged.count == lines, "\(logged.count) of \(lines) lines; the answer: \(answer)")
            let expected = (1...lines).map { String(format: "line %06d ", $0) + String(repeating: "x", count: 60) }
            if logged != expected {
                let first = zip(logged, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(logged.count, expected.count)
                Issue.record("the lines differ from line \(first + 1): \(logged[first..<min(first + 3, logged.count)])")
            }

            // events.subscribe: a bounded number of events, then events.dropped, and the
            // connection still answers
            let (events, dropped, after) = try await blocking { try CH.readUntilDropped(subscriber) }
            #expect(events <= 20_000, "the subscriber was sent \(events) events before it was dropped")
            #expect(dropped["params"]?["message"]?.string?.contains("subscribe again") == true, "\(dropped)")
            #expect(after["result"]?["version"]?.string != nil, "\(after)")
        }
    }

    // MARK: - Connections

    @Test("at the connection limit: the oldest connection that sent nothing makes room; with none, the new one gets an error naming the limit; logged once")
    func connectionLimit() async throws {
        try await withDaemon(arguments: ["--max-connections", "3"]) { d in
            // an idle connection, then two subscribers: the limit is reached; the subscribers
            // have sent a request, the idle one has not (connections are admitted in order)
            let (idle, subscribers) = try await blocking { [socket = d.socket] in
                let idle = try RawConnection(path: socket)
                let subscribers = try (0..<2).map { i in
                    let c = try RawConnection(path: socket)
                    _ = try CH.call(c, id: "sub\(i)", "events.subscribe", [:])
                    return c
                }
                return (idle, subscribers)
            }
            // a new client makes the idle connection give up its place
            let prober = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                _ = try CH.call(c, id: 1, "daemon.status")
                return c
            }
            defer { (subscribers + [prober]).forEach { $0.hangUp() } }
            let (evicted, evictedClosed) = try await blocking { (try CH.next(idle), try idle.isClosedByDaemon()) }
            #expect(evicted["error"]?["data"]?["code"] == .string("too_many_connections"), "\(evicted)")
            #expect(CH.message(evicted).contains("limit of 3 connections") && CH.message(evicted).contains("sent no request"), "\(evicted)")
            #expect(evicted["id"] == .null, "\(evicted)")
            #expect(evictedClosed)

            // every place is taken by a connection that sent a request: new ones are refused
            let refusals = try await blocking { [socket = d.socket] in
                try (0..<20).map { _ in
                    let c = try RawConnection(path: socket)
                    return (try CH.next(c), try c.isClosedByDaemon())
                }
            }
            for (answer, closed) in refusals {
                #expect(answer["error"]?["data"]?["code"] == .string("too_many_connections"), "\(answer)")
                #expect(answer["error"]?["code"] == .number(-32000), "\(answer)")
                #expect(CH.message(answer).contains("3 connections"), "the error should name the limit: \(answer)")
                #expect(closed)
            }
            let client = try await d.tide(["status"])
            #expect(client.status == 3, "tide status at the limit: exit \(client.status), \(client.combined)")
            #expect(client.stderr.contains("too_many_connections") && client.stderr.contains("3 connections"), "\(client.stderr)")
            #expect(try CH.call(prober, id: 2, "daemon.status")["result"] != nil, "a connection inside the limit is still served")
            let warnings = d.log.components(separatedBy: "\n").filter { $0.contains("at the connection limit") }
            #expect(warnings.count == 1, "22 refusals and closings should be logged once: \(warnings)")

            // once the connections fall to three quarters of the limit, one line sums it up
            (subscribers + [prober]).forEach { $0.hangUp() }
            let summed = await waitUntil(timeout: .seconds(30)) { d.log.contains("below the connection limit again: 21 connections refused, 1 closed") }
            #expect(summed, "\(d.log.suffix(1500))")
        }
    }

    @Test("10,000 connections opened and never written to: the daemon keeps serving, the oldest ones are closed with an error naming the limit")
    func tenThousandIdleConnections() async throws {
        CH.raiseFileLimit()
        try await withDaemon { d in
            let connections = try await blocking { [socket = d.socket] in
                try (0..<10_000).map { _ in try RawConnection(path: socket) }
            }
            defer { connections.forEach { $0.hangUp() } }
            let clock = ContinuousClock()
            let start = clock.now
            let status = try await CH.result(d, "daemon.status")
            #expect(status["version"]?.string != nil, "\(status)")
            #expect(clock.now - start < .seconds(10), "a client waited \(clock.now - start) behind 10,000 idle connections")
            let (first, closed) = try await blocking { (try CH.next(connections[0]), try connections[0].isClosedByDaemon()) }
            #expect(first["error"]?["data"]?["code"] == .string("too_many_connections"), "\(first)")
            #expect(CH.message(first).contains("4096 connections"), "\(first)")
            #expect(closed)
            let warnings = d.log.components(separatedBy: "\n").filter { $0.contains("at the connection limit") }
            #expect(warnings.count == 1, "\(warnings.count) log lines about the limit: \(warnings.prefix(3))")
        }
    }

    @Test("the daemon raises its soft limit on open files to the hard limit",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit")))
    func raisesFileLimit() async throws {
        var limit = rlimit()
        getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        let hard = limit.rlim_max == rlim_t.max ? "unlimited" : String(limit.rlim_max)
        try await withDaemon(launcher: ["/usr/bin/prlimit", "--nofile=256:\(hard)", "--"]) { d in
            let limits = try String(contentsOfFile: "/proc/\(d.pid)/limits", encoding: .utf8)
            let line = limits.components(separatedBy: "\n").first { $0.hasPrefix("Max open files") } ?? ""
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            #expect(fields.count >= 5 && fields[3] == fields[4], "soft and hard limits differ: \(line)")
        }
    }

    // MARK: - Request framing and ids

    static let ids = [
        "123456789012345678901234567890", "9007199254740993", "18446744073709551616", "-9223372036854775809",
        "1e400", "-1e400", "1e-400", "-0", "1.50", "-1.0E+2", "0.1", "0",
        #""plain""#, #""a\u00e9\/b\"c\\d""#, #""\ud83d\ude00""#, #""""#, "null",
    ]

    @Test("request ids are echoed byte for byte: numbers a Double cannot hold, -0, 1.50, strings with their escapes")
    func idsEchoedVerbatim() async throws {
        try await withDaemon { d in
            let answers = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                var out: [(String, String, String)] = []
                for id in Self.ids {
                    let requests = [
                        ("result", #"{"jsonrpc":"2.0","id":\#(id),"method":"daemon.status"}"#),
                        ("unknown method", #"{"jsonrpc":"2.0","id":\#(id),"method":"no.such"}"#),
                        ("bad params", #"{"jsonrpc":"2.0","id":\#(id),"method":"daemon.status","params":{"x":1}}"#),
                        ("invalid request", #"{"jsonrpc":"1.0","id":\#(id),"method":"daemon.status"}"#),
                        ("batch", #"[{"jsonrpc":"2.0","id":\#(id),"method":"daemon.status"}]"#),
                    ]
                    for (kind, request) in requests {
                        try c.send(request + "\n")
                        guard let line = try c.readLine() else { throw HarnessError("closed after \(request)") }
                        out.append((id, kind, line))
                    }
                }
                return out
            }
            for (id, kind, line) in answers {
                #expect(line.contains(#""id":\#(id),"#) || line.contains(#""id":\#(id)}"#), "\(kind): id \(id) came back as: \(line.prefix(200))")
                #expect(!line.contains("-32700"), "\(kind): id \(id) is valid JSON: \(line.prefix(200))")
            }
        }
    }

    @Test("a last request without its newline, then a half-close: every request is answered, then the daemon closes")
    func halfClosedLastRequest() async throws {
        let slow = #"flow { name = "slow", run = function(ctx) sleep("300ms") return "slept" end }"#
        try await withDaemon(files: ["flows/slow.lua": slow]) { d in
            let (ids, closed) = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                try c.send(CH.line(id: 1, "run.start", ["flow": "slow", "wait": true]))
                try c.send(#"{"jsonrpc":"2.0","id":2,"method":"daemon.status"}"#)
                shutdown(c.fd, Int32(SHUT_WR))
                var ids: [JSONValue] = []
                while ids.count < 2 { ids.append(try CH.next(c)["id"] ?? .null) }
                return (ids, try c.isClosedByDaemon())
            }
            #expect(Set(ids.map(\.description)) == ["1", "2"], "\(ids)")
            #expect(closed)
        }
    }

    // MARK: - Another user

    @Test("a client of another user gets permission_denied naming who may connect, and tide exits 3 with it",
          .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func anotherUser() async throws {
        // the daemon runs as root, like the tests; its socket is opened to everyone (as a
        // careless chmod would), so only the peer check stands between nobody and the daemon
        try await withScratchDirectory { home in
            try FileManager.default.createDirectory(atPath: home.path + "/public", withIntermediateDirectories: true)
            chmod(home.path, 0o755)
            chmod(home.path + "/public", 0o755)
            let d = try await RunningDaemon(home: home, socket: home.path + "/public/tide.sock")
            defer { kill(d.pid, SIGKILL) }
            // answered: the daemon has made its socket 0600 (just after binding it); now widen it
            #expect(try await CH.result(d, "daemon.status")["version"]?.string != nil)
            chmod(d.socket, 0o666)
            let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
            let output = try await d.tide(["status"], launcher: nobody)
            #expect(output.status == 3, "exit \(output.status): \(output.combined)")
            #expect(output.stderr.contains("permission_denied") || output.stderr.contains("permission denied"), "\(output.stderr)")
            #expect(output.stderr.contains("root (uid 0)"), "the message should name who may connect: \(output.stderr)")
            #expect(output.stderr.contains("65534"), "the message should name the refused user: \(output.stderr)")
            #expect(!output.stderr.contains("Broken pipe"), "\(output.stderr)")
            #expect(d.log.contains("refused a connection from nobody (uid 65534)"), "\(d.log.suffix(2000))")
            #expect(try await CH.result(d, "daemon.status")["version"]?.string != nil)
            await d.stop()
        }
    }
}

// MARK: - Helpers

/// Helpers of this file.
private enum CH {
    /// One request line (with its `\n`).
    static func line(id: Any, _ method: String, _ params: [String: Any]? = nil) -> String {
        var message: [String: Any] = ["jsonrpc": "2.0", "id": id, "method": method]
        if let params { message["params"] = params }
        let data = try! JSONSerialization.data(withJSONObject: message, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func next(_ c: RawConnection) throws -> JSONValue {
        guard let line = try c.readLine() else { throw HarnessError("the daemon closed the connection") }
        return try JSONValue.parse(line)
    }

    /// Sends a request and returns its response, skipping notifications and other answers.
    static func call(_ c: RawConnection, id: Any, _ method: String, _ params: [String: Any]? = nil) throws -> JSONValue {
        try c.send(line(id: id, method, params))
        let expected: JSONValue = (id as? Int).map { .number(Double($0)) } ?? .string("\(id)")
        while true {
            let message = try next(c)
            if message["id"] == expected { return message }
        }
    }

    /// Lua that waits (up to 10 s) until the file `ctx.payload.gate` exists.
    static let gateWait = """
        for _ = 1, 500 do
            if sh("test -e '" .. ctx.payload.gate .. "'", {check = false}).status == 0 then break end
            sleep("20ms")
          end
        """

    /// The result of one request on a new connection; throws its error.
    static func result(_ d: RunningDaemon, _ method: String, _ params: [String: Any]? = nil) async throws -> JSONValue {
        let text = line(id: 1, method, params)
        let response = try await blocking { [socket = d.socket] in
            let c = try RawConnection(path: socket)
            try c.send(text)
            while true {
                let message = try next(c)
                if message["id"] == .number(1) { return message }
            }
        }
        guard let result = response["result"] else { throw HarnessError("\(method) failed: \(response)") }
        return result
    }

    /// `run.get` once the run has finished (fails after `timeout`).
    static func finishedRun(_ d: RunningDaemon, _ id: String, timeout: Duration) async throws -> JSONValue {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let run = try await result(d, "run.get", ["run_id": id])
            if !["queued", "running"].contains(run["status"]?.string ?? "") { return run }
            guard clock.now < deadline else { throw HarnessError("run \(id) did not finish within \(timeout): \(run)") }
            try await Task.sleep(for: .milliseconds(25))
        }
    }



    /// The `run.log` messages of a `run.logs {follow}` connection, and its answer.
    static func readFollowed(_ c: RawConnection) throws -> ([String], JSONValue) {
        var messages: [String] = []
        while true {
            guard let line = try c.readLine() else { throw HarnessError("the daemon closed the connection") }
            // JSONSerialization: tens of thousands of lines, and the Codable JSONValue is slow in debug builds
            let message = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
            if message["id"] != nil { return (messages, try JSONValue.parse(line)) }
            if message["method"] as? String == "run.log", let params = message["params"] as? [String: Any],
               let entry = params["line"] as? [String: Any], let text = entry["message"] as? String {
                messages.append(text)
            }
        }
    }

    /// Reads a subscription until `events.dropped`: how many events came before it, the
    /// notification, and the answer to a daemon.status sent afterwards on the same connection.
    static func readUntilDropped(_ c: RawConnection) throws -> (Int, JSONValue, JSONValue) {
        var events = 0
        while true {
            let message = try next(c)
            if message["method"] == .string("events.dropped") {
                return (events, message, try call(c, id: "after", "daemon.status"))
            }
            events += 1
        }
    }

    static func message(_ response: JSONValue) -> String {
        response["error"]?["message"]?.string ?? ""
    }

    /// A few hundred requests first, so the allocator's first growth is not counted against a client.
    static func warmUp(_ d: RunningDaemon) async throws {
        try await blocking { [socket = d.socket] in
            let c = try RawConnection(path: socket)
            for i in 0..<500 { _ = try call(c, id: i, "daemon.status") }
        }
    }

    /// A field of /proc/PID/status in MB.
    static func status(_ pid: Int32, _ field: String) throws -> Double {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        guard let line = text.components(separatedBy: "\n").first(where: { $0.hasPrefix(field + ":") }),
              let kb = Double(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
        else { throw HarnessError("no \(field) in /proc/\(pid)/status") }
        return kb / 1024
    }

    /// Resets the daemon's peak resident set (VmHWM) to its current one; returns that, in MB.
    static func resetPeak(_ pid: Int32) throws -> Double {
        try "5".write(toFile: "/proc/\(pid)/clear_refs", atomically: false, encoding: .utf8)
        return try status(pid, "VmRSS")
    }

    /// How far the peak resident set rose above `baseline` (MB).
    static func peakGrowth(_ pid: Int32, since baseline: Double) throws -> Double {
        try status(pid, "VmHWM") - baseline
    }

    /// Lets this process (and the daemons it starts) open 12,000 files, within the hard limit.
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < 12_000 {
            limit.rlim_cur = min(12_000, limit.rlim_max)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// A connection that writes many request lines from a thread of its own without reading,
    /// noting when a write would block (the daemon stopped reading).
    final class Pipeliner: @unchecked Sendable {
        /// What the writer has seen, shared with it.
        final class Progress: Sendable {
            let state = Mutex((blocked: false, finished: false))
        }

        let connection: RawConnection
        private let progress = Progress()
        private let writer: Thread

        var blocked: Bool { progress.state.withLock { $0.blocked } }
        var finished: Bool { progress.state.withLock { $0.finished } }

        init(_ socket: String, lines: [String]) throws {
            let connection = try RawConnection(path: socket)
            self.connection = connection
            let bytes = Array(lines.joined().utf8)
            let progress = self.progress
            writer = Thread {
                var offset = 0
                while offset < bytes.count {
                    let n = bytes[offset...].withUnsafeBytes {
                        Glibc.send(connection.fd, $0.baseAddress, min($0.count, 65536), Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                    }
                    if n > 0 { offset += n; continue }
                    if errno == EAGAIN || errno == EWOULDBLOCK {
                        progress.state.withLock { $0.blocked = true }
                        var fds = pollfd(fd: connection.fd, events: Int16(POLLOUT), revents: 0)
                        _ = poll(&fds, 1, 1000)
                        continue
                    }
                    if errno == EINTR { continue }
                    break  // the connection broke: the reader will say so
                }
                progress.state.withLock { $0.finished = true }
            }
            writer.start()
        }

        /// Reads `count` answers and returns their ids in the order they came.
        func readAnswers(_ count: Int) throws -> [Int] {
            var ids: [Int] = []
            while ids.count < count {
                guard let line = try connection.readLine() else {
                    throw HarnessError("the daemon closed the connection after \(ids.count) answers")
                }
                let message = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                guard let id = message?["id"] as? Int else { throw HarnessError("not an answer: \(line.prefix(200))") }
                ids.append(id)
            }
            return ids
        }

        func close() { shutdown(connection.fd, Int32(SHUT_RDWR)) }
    }
}
