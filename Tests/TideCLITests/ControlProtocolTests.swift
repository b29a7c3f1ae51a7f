// ControlProtocolTests.swift: end-to-end tests of the control socket (SPEC §2 `on`, §6, §7, §8)
// against the real `tide serve`, over raw JSON lines and through the `tide` client commands.
//
// Blocking socket I/O happens only inside `blocking {}` (a thread of its own); waits are for
// conditions, with deadlines. Runs that must be "in progress" at some point wait on a gate file
// the test creates, instead of sleeping and hoping.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("control protocol")
struct ControlProtocolTests {
    // MARK: - 1. Parse errors

    @Test("malformed JSON: -32700 with id null, and the same connection still answers")
    func malformedJSON() async throws {
        try await withDaemon { d in
            let (truncated, badUTF8, trailing, status) = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                try c.send("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\n")
                let truncated = try CP.next(c)
                try c.send([0xFF, 0xFE, 0x7B, 0x0A])  // not UTF-8
                let badUTF8 = try CP.next(c)
                try c.send("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"daemon.status\"} garbage\n")
                let trailing = try CP.next(c)
                let status = try CP.call(c, id: 4, "daemon.status")
                return (truncated, badUTF8, trailing, status)
            }
            for (name, answer) in [("truncated", truncated), ("invalid UTF-8", badUTF8), ("trailing garbage", trailing)] {
                #expect(CP.errorCode(answer) == -32700, "\(name): \(answer)")
                #expect(answer["id"] == .null, "\(name): a parse error cannot know the id: \(answer)")
                #expect(answer["jsonrpc"] == .string("2.0"), "\(name): \(answer)")
                #expect(answer["result"] == nil, "\(name): \(answer)")
            }
            #expect(status["result"]?["version"]?.string != nil, "no status after the parse errors: \(status)")
            #expect(status["id"] == .number(4))
        }
    }

    // MARK: - 2. Invalid requests

    @Test("valid JSON that is not a request: -32600")
    func invalidRequests() async throws {
        try await withDaemon { d in
            let lines = [
                "42", "\"daemon.status\"", "true", "null", "{}", #"{"jsonrpc":"2.0"}"#,
                #"{"jsonrpc":"2.0","id":7,"method":5}"#, #"{"jsonrpc":"2.0","id":8,"method":null}"#,
                #"{"jsonrpc":"1.0","id":9,"method":"daemon.status"}"#, #"{"id":10,"method":"daemon.status"}"#,
                #"{"jsonrpc":"2.0","id":{"a":1},"method":"daemon.status"}"#,
                #"{"jsonrpc":"2.0","id":11,"method":"daemon.status","params":"x"}"#,
            ]
            let (answers, status) = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                var answers: [JSONValue] = []
                for line in lines {
                    try c.send(line + "\n")
                    answers.append(try CP.next(c))
                }
                return (answers, try CP.call(c, id: "after", "daemon.status"))
            }
            for (line, answer) in zip(lines, answers) {
                #expect(CP.errorCode(answer) == -32600, "\(line) → \(answer)")
                #expect(answer["result"] == nil, "\(line) → \(answer)")
                let id = answer["id"]
                #expect(id != nil, "an error response must carry an id (null when unknown): \(line) → \(answer)")
                if line.contains("\"id\":{") || !line.contains("\"id\"") {
                    #expect(id == .null, "\(line) → \(answer)")
                }
            }
            #expect(status["result"]?["version"]?.string != nil, "no status after the invalid requests: \(status)")
        }
    }

    // MARK: - 3. Unknown method

    @Test("unknown method: -32601, with the request's id")
    func unknownMethod() async throws {
        try await withDaemon { d in
            let (unknown, dotted, status) = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                let unknown = try CP.call(c, id: "u1", "no.such.method")
                let dotted = try CP.call(c, id: 12, "daemon.status.extra", [:])
                return (unknown, dotted, try CP.call(c, id: 13, "daemon.status"))
            }
            #expect(CP.errorCode(unknown) == -32601, "\(unknown)")
            #expect(unknown["id"] == .string("u1"))
            #expect(CP.errorMessage(unknown).contains("no.such.method"), "the message should name the method: \(unknown)")
            #expect(CP.errorCode(dotted) == -32601, "\(dotted)")
            #expect(dotted["id"] == .number(12))
            #expect(status["result"]?["version"]?.string != nil, "\(status)")
        }
    }

    // MARK: - 4. Invalid params and tide's own errors

    @Test("wrong params: -32602; unknown run or flow: -32000 with data.code")
    func wrongParams() async throws {
        try await withDaemon(files: ["flows/hello.lua": #"flow { name = "hello", run = function(ctx) return "hi" end }"#]) { d in
            let answers = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                var out: [(String, JSONValue)] = []
                func ask(_ name: String, _ method: String, _ params: [String: Any]?) throws {
                    out.append((name, try CP.call(c, id: out.count + 1, method, params)))
                }
                try ask("run.start without flow", "run.start", [String: Any]())
                try ask("run.start without params", "run.start", nil)
                try ask("flow as a number", "run.start", ["flow": 5])
                try ask("payload as a string", "run.start", ["flow": "hello", "payload": "{}"])
                try ask("payload as a number", "run.start", ["flow": "hello", "payload": 3])
                try ask("wait as a string", "run.start", ["flow": "hello", "wait": "yes"])
                try ask("unknown parameter", "run.start", ["flow": "hello", "bogus": 1])
                try c.send(#"{"jsonrpc":"2.0","id":\#(out.count + 1),"method":"run.start","params":["hello"]}"# + "\n")
                out.append(("params as an array", try CP.next(c)))
                try ask("runs.list limit -1", "runs.list", ["limit": -1])
                try ask("runs.list limit 0", "runs.list", ["limit": 0])
                try ask("runs.list limit 1.5", "runs.list", ["limit": 1.5])
                try ask("runs.list bad status", "runs.list", ["status": "sleeping"])
                try ask("run.get without run_id", "run.get", [String: Any]())
                try ask("run.logs after -1", "run.logs", ["run_id": "run_0000000000000000", "after": -1])
                try ask("daemon.status with a parameter", "daemon.status", ["verbose": true])
                try ask("run.get unknown", "run.get", ["run_id": "run_0123456789abcdef"])
                try ask("run.cancel unknown", "run.cancel", ["run_id": "run_0123456789abcdef"])
                try ask("run.logs unknown", "run.logs", ["run_id": "run_0123456789abcdef"])
                try ask("run.start unknown flow", "run.start", ["flow": "nope"])
                try ask("status", "daemon.status", nil)
                return out
            }
            let byName = Dictionary(answers, uniquingKeysWith: { a, _ in a })
            for (i, (name, answer)) in answers.enumerated() {
                #expect(answer["id"] == .number(Double(i + 1)), "\(name): the error must answer its request's id: \(answer)")
            }
            for name in ["run.start without flow", "run.start without params", "flow as a number", "payload as a string",
                         "payload as a number", "wait as a string", "unknown parameter", "params as an array",
                         "runs.list limit -1", "runs.list limit 0", "runs.list limit 1.5", "runs.list bad status",
                         "run.get without run_id", "run.logs after -1", "daemon.status with a parameter"] {
                let answer = byName[name] ?? .null
                #expect(CP.errorCode(answer) == -32602, "\(name): \(answer)")
            }
            #expect(CP.errorMessage(byName["run.start without flow"]!).contains("flow"))
            #expect(CP.errorMessage(byName["payload as a string"]!).contains("payload"))
            #expect(CP.errorMessage(byName["unknown parameter"]!).contains("bogus"))
            #expect(CP.errorMessage(byName["runs.list limit -1"]!).contains("limit"))
            for name in ["run.get unknown", "run.cancel unknown", "run.logs unknown"] {
                let answer = byName[name]!
                #expect(CP.errorCode(answer) == -32000, "\(name): \(answer)")
                #expect(answer["error"]?["data"]?["code"] == .string("run_not_found"), "\(name): \(answer)")
            }
            let unknownFlow = byName["run.start unknown flow"]!
            #expect(CP.errorCode(unknownFlow) == -32000, "\(unknownFlow)")
            #expect(unknownFlow["error"]?["data"]?["code"] == .string("flow_not_found"), "\(unknownFlow)")
            #expect(CP.errorMessage(unknownFlow).contains("nope"), "\(unknownFlow)")
            #expect(byName["status"]?["result"]?["version"]?.string != nil, "\(byName["status"] ?? .null)")
            // none of the refused run.starts made a run
            let runs = try await CP.result(d, "runs.list")
            #expect(runs["runs"]?.array?.isEmpty == true, "a refused run.start recorded a run: \(runs)")
        }
    }

    // MARK: - 5. Over-long lines

    @Test("a line over 1 MiB: an error, then the connection is closed; a line just under it is served")
    func overlongLine() async throws {
        try await withDaemon { d in
            // just under the limit: read whole and answered (-32602: daemon.status takes no parameters)
            let (underAnswer, underStatus) = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                let padding = String(repeating: "x", count: 1_048_576 - 200)
                try c.send(#"{"jsonrpc":"2.0","id":1,"method":"daemon.status","params":{"pad":""# + padding + "\"}}\n")
                let answer = try CP.next(c)
                return (answer, try CP.call(c, id: 2, "daemon.status"))
            }
            #expect(CP.errorCode(underAnswer) == -32602, "a line under 1 MiB must be read and parsed: \(underAnswer)")
            #expect(underStatus["result"]?["version"]?.string != nil, "\(underStatus)")

            let (answer, closed) = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                let padding = String(repeating: "x", count: 1_048_576 + 10)
                do {
                    try c.send(#"{"jsonrpc":"2.0","id":1,"method":"daemon.status","params":{"pad":""# + padding + "\"}}\n")
                } catch {
                    // the daemon may close before it has read everything (EPIPE): its answer is still queued
                }
                let answer = try CP.next(c)
                return (answer, try c.isClosedByDaemon())
            }
            #expect(answer["error"] != nil, "no error for an over-long line: \(answer)")
            #expect(CP.errorCode(answer) == -32600 || CP.errorCode(answer) == -32700, "\(answer)")
            #expect(closed, "the connection must be closed after an over-long line")
            let status = try await CP.result(d, "daemon.status")
            #expect(status["version"]?.string != nil, "a new connection is not served after the over-long line: \(status)")
        }
    }

    // MARK: - 6. Batches

    @Test("batch: responses for requests only, matched by id; an empty batch is -32600")
    func batches() async throws {
        try await withDaemon(files: ["flows/hello.lua": #"flow { name = "hello", run = function(ctx) return "hi" end }"#]) { d in
            let (batch, invalids, empty, status) = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                try c.send("""
                    [{"jsonrpc":"2.0","id":"a","method":"daemon.status"},\
                    {"jsonrpc":"2.0","method":"flows.list"},\
                    {"jsonrpc":"2.0","id":"c","method":"run.get","params":{"run_id":"run_0000000000000000"}}]\n
                    """)
                let batch = try CP.next(c)
                try c.send("[1, {\"jsonrpc\":\"2.0\",\"id\":\"z\",\"method\":\"nope\"}]\n")
                let invalids = try CP.next(c)
                try c.send("[]\n")
                let empty = try CP.next(c)
                return (batch, invalids, empty, try CP.call(c, id: "s", "daemon.status"))
            }
            let responses = try #require(batch.array, "a batch must be answered with an array: \(batch)")
            #expect(responses.count == 2, "3 requests of which one a notification → 2 responses: \(batch)")
            let byID = Dictionary(responses.compactMap { r in r["id"]?.string.map { ($0, r) } }, uniquingKeysWith: { a, _ in a })
            #expect(Set(byID.keys) == ["a", "c"], "\(batch)")
            #expect(byID["a"]?["result"]?["version"]?.string != nil, "\(batch)")
            #expect(byID["c"]?["error"]?["data"]?["code"] == .string("run_not_found"), "\(batch)")

            let invalidList = try #require(invalids.array, "\(invalids)")
            #expect(invalidList.count == 2, "\(invalids)")
            #expect(invalidList.contains { CP.errorCode($0) == -32600 && $0["id"] == .null }, "\(invalids)")
            #expect(invalidList.contains { CP.errorCode($0) == -32601 && $0["id"] == .string("z") }, "\(invalids)")

            #expect(empty.object != nil, "an empty batch is answered with one error object, not an array: \(empty)")
            #expect(CP.errorCode(empty) == -32600, "\(empty)")
            #expect(empty["id"] == .null, "\(empty)")
            #expect(status["result"]?["version"]?.string != nil, "\(status)")
        }
    }

    // MARK: - 7. Concurrent requests on one connection

    @Test("one connection, concurrent requests: daemon.status is answered while a run.start {wait} is pending")
    func concurrentRequestsOnOneConnection() async throws {
        try await withDaemon(files: ["flows/slow.lua": #"flow { name = "slow", run = function(ctx) sleep(1) return "slept" end }"#]) { d in
            let arrivals = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                try c.send(CP.line(id: "run", "run.start", ["flow": "slow", "wait": true]))
                try c.send(CP.line(id: "status", "daemon.status"))
                var arrivals: [(String, JSONValue)] = []
                while arrivals.count < 2 {
                    let message = try CP.next(c)
                    guard let id = message["id"]?.string else { continue }  // notifications
                    arrivals.append((id, message))
                }
                return arrivals
            }
            #expect(arrivals.map(\.0) == ["status", "run"], "daemon.status must not wait behind the run: \(arrivals.map(\.0))")
            let status = arrivals.first { $0.0 == "status" }?.1 ?? .null
            let run = arrivals.first { $0.0 == "run" }?.1 ?? .null
            #expect(status["result"]?["version"]?.string != nil, "\(status)")
            #expect(run["result"]?["status"] == .string("succeeded"), "\(run)")
            #expect(run["result"]?["result"] == .string("slept"), "\(run)")
        }
    }

    // MARK: - 8. Many connections

    @Test("500 simultaneous connections are all answered")
    func fiveHundredConnections() async throws {
        CP.raiseFileLimit(to: 4096)
        try await withDaemon { d in
            let (answers, failures) = try await blocking { [socket = d.socket] in
                var connections: [RawConnection] = []
                for _ in 0..<500 { connections.append(try RawConnection(path: socket)) }
                for (i, c) in connections.enumerated() {
                    try c.send(CP.line(id: i, "daemon.status"))
                }
                var answers = 0
                var failures: [String] = []
                for (i, c) in connections.enumerated() {
                    let message = try CP.next(c)
                    if message["id"] == .number(Double(i)), message["result"]?["version"]?.string != nil {
                        answers += 1
                    } else if failures.count < 5 {
                        failures.append("connection \(i): \(message)")
                    }
                }
                return (answers, failures)
            }
            #expect(answers == 500, "answered \(answers) of 500; e.g. \(failures); log:\n\(d.log.suffix(2000))")
            let status = try await CP.result(d, "daemon.status")
            #expect(status["version"]?.string != nil, "\(status)")
        }
    }

    // MARK: - 9. A follower that goes away

    @Test("a client that disconnects while following a run: the daemon keeps serving and the run finishes")
    func followerDisconnects() async throws {
        let flow = """
            flow { name = "chatty", run = function(ctx)
              log("before the gate")
              \(CP.gateWait)
              for i = 1, 10 do log("tick " .. i) sleep("20ms") end
              return "finished"
            end }
            """
        try await withDaemon(files: ["flows/chatty.lua": flow]) { d in
            let gate = d.home.path + "/gate"
            // follower 1: run.start {follow: true}; hangs up after the first log line
            let followed = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                try c.send(CP.line(id: 1, "run.start", ["flow": "chatty", "follow": true, "payload": ["gate": gate]]))
                while true {
                    let message = try CP.next(c)
                    if message["method"] == .string("run.log"), let id = message["params"]?["run_id"]?.string {
                        c.hangUp()
                        return id
                    }
                    if message["id"] != nil { throw HarnessError("run.start answered before the run logged: \(message)") }
                }
            }
            // follower 2: run.logs {follow: true} of a second run; hangs up after the first line
            let started = try await CP.result(d, "run.start", ["flow": "chatty", "payload": ["gate": gate]])
            let logged = try #require(started["run_id"]?.string, "\(started)")
            let firstLine = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                try c.send(CP.line(id: 1, "run.logs", ["run_id": logged, "follow": true]))
                while true {
                    let message = try CP.next(c)
                    if message["method"] == .string("run.log") {
                        c.hangUp()
                        return message
                    }
                    if message["id"] != nil { throw HarnessError("run.logs answered before the run ended: \(message)") }
                }
            }
            #expect(firstLine["params"]?["line"]?["message"] == .string("before the gate"), "\(firstLine)")

            // both runs are still going (they wait for the gate), and the daemon serves
            let status = try await CP.result(d, "daemon.status")
            #expect(status["running"] == .number(2), "\(status)")
            for id in [followed, logged] {
                let during = try await CP.result(d, "run.get", ["run_id": id])
                #expect(during["status"] == .string("running"), "\(during)")
            }
            try d.home.write("gate", "")
            for id in [followed, logged] {
                let run = try await CP.finishedRun(d, id)
                #expect(run["status"] == .string("succeeded"), "run \(id) after its follower left: \(run); log:\n\(d.log.suffix(3000))")
                #expect(run["result"] == .string("finished"), "\(run)")
                let logs = try await CP.result(d, "run.logs", ["run_id": id])
                let messages = logs["lines"]?.array?.compactMap { $0["message"]?.string } ?? []
                #expect(messages == ["before the gate"] + (1...10).map { "tick \($0)" }, "run \(id): \(messages)")
            }
            #expect(try await CP.result(d, "daemon.status")["running"] == .number(0))
        }
    }

    // MARK: - 10. events.subscribe

    @Test("events.subscribe: a run's notifications in causal order; a subscription to another flow gets none of them")
    func subscribe() async throws {
        let files = [
            "flows/ev.lua": """
                flow { name = "ev", run = function(ctx)
                  local v = step("first", function() return 41 end)
                  log("after the step")
                  return v + 1
                end }
                """,
            "flows/other.lua": """
                flow { name = "other", run = function(ctx)
                  step("o", function() return 1 end)
                  return "o"
                end }
                """,
        ]
        try await withDaemon(files: files) { d in
            let all = try await CP.Subscriber.open(d.socket, [:])
            let otherOnly = try await CP.Subscriber.open(d.socket, ["flow": "other"])
            defer { all.close(); otherOnly.close() }
            #expect(all.answer["result"]?["subscribed"] == .bool(true), "\(all.answer)")
            #expect(otherOnly.answer["result"]?["subscribed"] == .bool(true), "\(otherOnly.answer)")

            let run = try await CP.result(d, "run.start", ["flow": "ev", "wait": true])
            let id = try #require(run["run_id"]?.string, "\(run)")
            #expect(run["status"] == .string("succeeded"), "\(run)")
            let seen = try await all.read(until: { $0["method"] == .string("run.finished") && $0["params"]?["run_id"] == .string(id) })
            let mine = seen.filter { $0["params"]?["run_id"] == .string(id) }
            #expect(seen.count == mine.count, "events of other runs: \(seen)")
            let methods = mine.compactMap { $0["method"]?.string }
            for message in mine {
                #expect(message["id"] == nil, "a notification has no id: \(message)")
                #expect(message["params"]?["flow"] == .string("ev"), "\(message)")
            }
            func index(_ method: String, _ match: (JSONValue) -> Bool = { _ in true }) -> Int? {
                mine.firstIndex { $0["method"] == .string(method) && match($0["params"] ?? .null) }
            }
            let runStarted = index("run.started")
            let stepStarted = index("step.started") { $0["step"]?["name"] == .string("first") }
            let stepFinished = index("step.finished") { $0["step"]?["name"] == .string("first") }
            let logged = index("run.log") { $0["line"]?["message"] == .string("after the step") }
            let runFinished = index("run.finished")
            let order = [runStarted, stepStarted, stepFinished, logged, runFinished]
            #expect(order.allSatisfy { $0 != nil }, "missing notifications; got \(methods)")
            let found = order.compactMap { $0 }
            #expect(found == found.sorted() && Set(found).count == found.count,
                    "not in causal order (run.started, step.started, step.finished, run.log, run.finished): \(methods)")
            #expect(runStarted == 0 && runFinished == mine.count - 1, "\(methods)")
            if let f = runFinished {
                #expect(mine[f]["params"]?["status"] == .string("succeeded"), "\(mine[f])")
            }
            if let s = stepFinished {
                #expect(mine[s]["params"]?["step"]?["status"] == .string("succeeded"), "\(mine[s])")
            }

            // A run of `other` afterwards: the flow-filtered subscriber's stream is in publish order,
            // so anything of `ev` would have reached it before `other`'s run.finished.
            let second = try await CP.result(d, "run.start", ["flow": "other", "wait": true])
            let otherID = try #require(second["run_id"]?.string)
            let filtered = try await otherOnly.read(until: { $0["method"] == .string("run.finished") && $0["params"]?["run_id"] == .string(otherID) })
            #expect(filtered.allSatisfy { $0["params"]?["flow"] == .string("other") }, "a {flow: other} subscriber got: \(filtered)")
            #expect(!filtered.contains { $0["params"]?["run_id"] == .string(id) }, "\(filtered)")
            #expect(filtered.contains { $0["method"] == .string("step.started") }, "\(filtered)")
            #expect(try await CP.result(d, "daemon.status")["version"]?.string != nil)
        }
    }

    // MARK: - 11. run.logs

    @Test("run.logs {follow}: lines stream while the run goes; then the status; without follow: the lines after the run")
    func logsFollow() async throws {
        let flow = """
            flow { name = "talk", run = function(ctx)
              log("line one")
              \(CP.gateWait)
              sleep("300ms")
              log.warn("line two")
              return "done"
            end }
            """
        try await withDaemon(files: ["flows/talk.lua": flow]) { d in
            let gate = d.home.path + "/gate"
            let started = try await CP.result(d, "run.start", ["flow": "talk", "payload": ["gate": gate]])
            let id = try #require(started["run_id"]?.string)
            let socket = d.socket
            let stream = try await blocking { try CP.Stream(socket, CP.line(id: 1, "run.logs", ["run_id": id, "follow": true])) }
            defer { stream.close() }
            // the first line arrives while the run is still running (it waits for the gate)
            let first = try await blocking { try stream.next() }
            #expect(first["method"] == .string("run.log"), "\(first)")
            #expect(first["params"]?["line"]?["message"] == .string("line one"), "\(first)")
            #expect(first["params"]?["run_id"] == .string(id), "\(first)")
            let during = try await CP.result(d, "run.get", ["run_id": id])
            #expect(during["status"] == .string("running"), "\(during); log:\n\(d.log.suffix(4000))")
            try d.home.write("gate", "")
            var rest: [JSONValue] = []
            while true {
                let message = try await blocking { try stream.next() }
                rest.append(message)
                if message["id"] != nil { break }
            }
            let notifications = rest.dropLast()
            #expect(notifications.compactMap { $0["params"]?["line"]?["message"]?.string } == ["line two"], "\(rest)")
            #expect(notifications.allSatisfy { $0["method"] == .string("run.log") }, "\(rest)")
            #expect(notifications.first?["params"]?["line"]?["level"] == .string("warn"), "\(rest)")
            let final = rest.last ?? .null
            #expect(final["id"] == .number(1), "\(final)")
            #expect(final["result"]?["status"] == .string("succeeded"), "the final response should carry the run's status: \(final)")

            let logs = try await CP.result(d, "run.logs", ["run_id": id])
            #expect(logs["status"] == .string("succeeded"), "\(logs)")
            let lines = logs["lines"]?.array ?? []
            #expect(lines.compactMap { $0["message"]?.string } == ["line one", "line two"], "\(logs)")
            #expect(lines.compactMap { $0["level"]?.string } == ["info", "warn"], "\(logs)")
            let seqs = lines.compactMap { $0["seq"]?.number }
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "\(logs)")
            if let firstSeq = seqs.first {
                let after = try await CP.result(d, "run.logs", ["run_id": id, "after": firstSeq])
                #expect(after["lines"]?.array?.compactMap { $0["message"]?.string } == ["line two"], "\(after)")
            }
        }
    }

    // MARK: - 12. Event triggers

    @Test("on = \"run.failed\": starts with ctx.event when another flow fails, not when one succeeds")
    func eventTriggers() async throws {
        let files = [
            "flows/fine.lua": #"flow { name = "fine", run = function(ctx) return "ok" end }"#,
            "flows/broken.lua": #"flow { name = "broken", run = function(ctx) error("boom-7f3a") end }"#,
            "flows/notify.lua": """
                flow { name = "notify", on = "run.failed", run = function(ctx)
                  return { trigger = ctx.trigger, run_id = ctx.event.run_id, flow = ctx.event.flow,
                           status = ctx.event.status }
                end }
                """,
        ]
        try await withDaemon(files: files) { d in
            let fine = try await CP.result(d, "run.start", ["flow": "fine", "wait": true])
            #expect(fine["status"] == .string("succeeded"), "\(fine)")
            let broken = try await CP.result(d, "run.start", ["flow": "broken", "wait": true])
            #expect(broken["status"] == .string("failed"), "\(broken)")
            let brokenID = try #require(broken["run_id"]?.string)

            // event triggers are started in order: had `fine` triggered a run, it would be listed first
            var notifyRuns: [JSONValue] = []
            let appeared = try await CP.eventually {
                notifyRuns = try await CP.result(d, "runs.list", ["flow": "notify"])["runs"]?.array ?? []
                return notifyRuns.contains { !["queued", "running"].contains($0["status"]?.string ?? "") }
            }
            #expect(appeared, "no notify run after a failure; log:\n\(d.log.suffix(3000))")
            #expect(notifyRuns.count == 1, "exactly one notify run (for the failure, none for the success): \(notifyRuns)")
            if let runID = notifyRuns.first?["run_id"]?.string {
                let run = try await CP.finishedRun(d, runID)
                #expect(run["status"] == .string("succeeded"), "\(run)")
                #expect(run["result"]?["trigger"] == .string("event"), "\(run)")
                #expect(run["result"]?["run_id"] == .string(brokenID), "ctx.event.run_id: \(run)")
                #expect(run["result"]?["flow"] == .string("broken"), "ctx.event.flow: \(run)")
                #expect(run["result"]?["status"] == .string("failed"), "ctx.event.status: \(run)")
                #expect(notifyRuns.first?["trigger"] == .string("event"), "\(notifyRuns)")
            }

            // another success: still no new notify run (a later failure is the fence)
            _ = try await CP.result(d, "run.start", ["flow": "fine", "wait": true])
            let broken2 = try await CP.result(d, "run.start", ["flow": "broken", "wait": true])
            let broken2ID = try #require(broken2["run_id"]?.string)
            let second = try await CP.eventually {
                notifyRuns = try await CP.result(d, "runs.list", ["flow": "notify"])["runs"]?.array ?? []
                return notifyRuns.count >= 2 && notifyRuns.allSatisfy { !["queued", "running"].contains($0["status"]?.string ?? "") }
            }
            #expect(second, "\(notifyRuns)")
            #expect(notifyRuns.count == 2, "\(notifyRuns)")
            if let newest = notifyRuns.first?["run_id"]?.string {
                #expect(try await CP.result(d, "run.get", ["run_id": newest])["result"]?["run_id"] == .string(broken2ID))
            }
            // the triggered runs did not trigger notify themselves, and no other flow ran
            let all = try await CP.result(d, "runs.list")["runs"]?.array ?? []
            #expect(all.count == 6, "fine ×2, broken ×2, notify ×2: \(all)")
        }
    }

    // MARK: - 13. max_concurrent

    @Test("max_concurrent = 1: one runs, the rest queue FIFO; cancelling a queued run means it never runs")
    func maxConcurrentQueue() async throws {
        let flow = """
            flow { name = "solo", max_concurrent = 1, run = function(ctx)
              step("work", function()
                \(CP.gateWait)
                sleep("50ms")
              end)
              log("ran " .. ctx.payload.n)
              return ctx.payload.n
            end }
            """
        try await withDaemon(files: ["flows/solo.lua": flow]) { d in
            let gate = d.home.path + "/gate"
            var ids: [String] = []
            var statuses: [String] = []
            for n in 1...4 {
                let r = try await CP.result(d, "run.start", ["flow": "solo", "payload": ["gate": gate, "n": n] as [String: Any]])
                ids.append(try #require(r["run_id"]?.string, "\(r)"))
                statuses.append(r["status"]?.string ?? "?")
            }
            #expect(statuses == ["running", "queued", "queued", "queued"], "\(statuses)")
            let status = try await CP.result(d, "daemon.status")
            #expect(status["running"] == .number(1) && status["queued"] == .number(3), "\(status)")
            for id in ids.dropFirst() {
                #expect(try await CP.result(d, "run.get", ["run_id": id])["status"] == .string("queued"))
            }

            // cancel the third (queued): recorded cancelled at once
            let cancel = try await CP.result(d, "run.cancel", ["run_id": ids[2]])
            #expect(cancel["status"] == .string("cancelled") && cancel["previous_status"] == .string("queued"), "\(cancel)")
            let cancelled = try await CP.result(d, "run.get", ["run_id": ids[2]])
            #expect(cancelled["status"] == .string("cancelled"), "\(cancelled)")
            #expect(try await CP.result(d, "daemon.status")["queued"] == .number(2))

            try d.home.write("gate", "")
            var runs: [JSONValue] = []
            for id in ids { runs.append(try await CP.finishedRun(d, id)) }
            for i in [0, 1, 3] {
                #expect(runs[i]["status"] == .string("succeeded"), "\(runs[i]); log:\n\(d.log.suffix(4000))")
                #expect(runs[i]["result"] == .number(Double(i + 1)), "\(runs[i])")
            }
            // FIFO, one at a time: 1 then 2 then 4
            let started = runs.map { $0["started_at"]?.string.flatMap(CP.time) }
            let finished = runs.map { $0["finished_at"]?.string.flatMap(CP.time) }
            if let s1 = started[0], let f1 = finished[0], let s2 = started[1], let f2 = finished[1], let s4 = started[3] {
                #expect(s1 < s2 && s2 < s4, "start order is not FIFO: \(runs.map { $0["started_at"] ?? .null })")
                #expect(s2 >= f1 && s4 >= f2, "ran concurrently despite max_concurrent = 1: \(runs)")
            } else {
                Issue.record("missing timestamps: \(runs)")
            }
            // the cancelled run never ran: no steps, no log, no result, and it stays cancelled
            let c = runs[2]
            #expect(c["status"] == .string("cancelled"), "\(c)")
            #expect(c["steps"]?.array?.isEmpty == true, "a run cancelled in the queue has steps: \(c)")
            #expect(c["result"] == .null, "\(c)")
            #expect(c["error"]?["code"] == .string("cancelled"), "\(c)")
            let logs = try await CP.result(d, "run.logs", ["run_id": ids[2]])
            #expect(logs["lines"]?.array?.isEmpty == true, "\(logs)")
            let allLogs = try await CP.result(d, "runs.list", ["flow": "solo"])
            #expect(allLogs["runs"]?.array?.count == 4, "\(allLogs)")
        }
    }

    // MARK: - 14. run.start {wait} shape; kv across runs

    @Test("run.start {wait}: the SPEC §6 shape; kv persists across runs")
    func waitShapeAndKV() async throws {
        let flow = """
            flow { name = "counter", run = function(ctx)
              local n = step("bump", function()
                local n = (kv.get("count") or 0) + 1
                kv.set("count", n)
                return n
              end)
              return n
            end }
            """
        try await withDaemon(files: ["flows/counter.lua": flow]) { d in
            let first = try await CP.result(d, "run.start", ["flow": "counter", "wait": true])
            let keys = Set(first.object?.keys.map { $0 } ?? [])
            let required: Set = ["run_id", "flow", "status", "result", "error", "steps", "started_at", "finished_at"]
            #expect(required.isSubset(of: keys), "missing \(required.subtracting(keys)) in \(first)")
            #expect(first["run_id"]?.string?.isEmpty == false)
            #expect(first["flow"] == .string("counter"))
            #expect(first["status"] == .string("succeeded"), "\(first)")
            #expect(first["result"] == .number(1), "\(first)")
            #expect(first["error"] == .null, "\(first)")
            let steps = first["steps"]?.array ?? []
            #expect(steps.count == 1 && steps.first?["name"] == .string("bump") && steps.first?["status"] == .string("succeeded")
                    && steps.first?["result"] == .number(1), "\(steps)")
            let start = first["started_at"]?.string.flatMap(CP.time)
            let end = first["finished_at"]?.string.flatMap(CP.time)
            #expect(start != nil && end != nil && start! <= end!, "timestamps: \(first)")

            let get = try await CP.result(d, "run.get", ["run_id": first["run_id"]?.string ?? ""])
            // the same run, read back: every field as run.start {wait} answered it
            let differing = Set((get.object ?? [:]).keys).union(keys).filter { get[$0] != first[$0] }.sorted()
            #expect(differing.isEmpty, """
                run.get and run.start {wait} disagree about the same run in \(differing): \
                \(differing.map { "\($0): get \(get[$0] ?? .null) vs wait \(first[$0] ?? .null)" })
                """)

            let second = try await CP.result(d, "run.start", ["flow": "counter", "wait": true])
            #expect(second["result"] == .number(2), "kv did not persist across runs: \(second)")
            #expect(second["run_id"] != first["run_id"])
        }
    }

    // MARK: - 15. The client commands

    @Test("tide run/logs/show/runs/cancel against the daemon")
    func clientCommands() async throws {
        let files = [
            "flows/ok.lua": """
                flow { name = "ok", run = function(ctx)
                  log("hello from ok")
                  local a, b = parallel(
                    function() return step("fetch", function() sleep("50ms") return 1 end) end,
                    function() return step("parse", function() sleep("80ms") return 2 end) end)
                  return a + b
                end }
                """,
            "flows/bad.lua": #"flow { name = "bad", run = function(ctx) step("explode", function() error("kaput-5c1d") end) end }"#,
        ]
        try await withDaemon(files: files) { d in
            let run = try await d.tide(["run", "ok", "--json"])
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let report = try ExecReport(run)
            for key in ["run_id", "flow", "status", "result", "error", "steps", "started_at", "finished_at"] {
                #expect(report.json[key] != nil, "`tide run --json` lacks \(key): \(run.stdout)")
            }
            #expect(report.status == "succeeded")
            #expect(report.result == .number(3))
            #expect(report.json["flow"] == .string("ok"))
            let stepNames = Set(report.steps?.array?.compactMap { $0["name"]?.string } ?? [])
            #expect(stepNames.isSuperset(of: ["fetch", "parse"]), "\(run.stdout)")
            let okID = try #require(report.json["run_id"]?.string)

            let failed = try await d.tide(["run", "bad", "--json"])
            #expect(failed.status == 1, "a failed run exits 1; got \(failed.status), stderr: \(failed.stderr)")
            let failedReport = try ExecReport(failed)
            #expect(failedReport.status == "failed")
            #expect(failedReport.json.description.contains("kaput-5c1d"), "\(failed.stdout)")

            let unknown = try await d.tide(["run", "nope"])
            #expect(unknown.status == 1, "\(unknown)")
            #expect(unknown.stderr.contains("nope") && unknown.stderr.contains("no flow"), "not a clear message: \(unknown.stderr)")

            let detached = try await d.tide(["run", "ok", "--detach"])
            #expect(detached.status == 0, "\(detached.stderr)")
            let detachedID = detached.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(detachedID.range(of: #"^run_[0-9a-f]{16}$"#, options: .regularExpression) != nil, "not a run id: \(detached.stdout)")
            let detachedRun = try await CP.finishedRun(d, detachedID)
            #expect(detachedRun["status"] == .string("succeeded"), "\(detachedRun)")

            let logs = try await d.tide(["logs", okID])
            #expect(logs.status == 0, "\(logs.stderr)")
            #expect(logs.stdout.contains("hello from ok"), "\(logs.stdout)")

            let show = try await d.tide(["show", okID])
            #expect(show.status == 0, "\(show.stderr)")
            for word in ["fetch", "parse", okID, "succeeded"] {
                #expect(show.stdout.contains(word), "tide show lacks \(word):\n\(show.stdout)")
            }
            #expect(show.stdout.contains("█") && show.stdout.contains("─"), "no timeline in tide show:\n\(show.stdout)")

            let runs = try await d.tide(["runs", "--flow", "ok", "--json"])
            #expect(runs.status == 0, "\(runs.stderr)")
            let listed = try runs.json()["runs"]?.array ?? []
            #expect(Set(listed.compactMap { $0["run_id"]?.string }) == [okID, detachedID], "\(runs.stdout)")
            #expect(listed.allSatisfy { $0["flow"] == .string("ok") }, "\(runs.stdout)")

            let cancel = try await d.tide(["cancel", okID])
            #expect(cancel.status == 1, "cancelling a finished run should fail; got \(cancel.status): \(cancel.combined)")
            #expect(cancel.stderr.contains("already finished"), "\(cancel.stderr)")
            #expect(try await CP.result(d, "daemon.status")["version"]?.string != nil)
        }
    }

    // MARK: - Beyond the list: found while writing the above

    @Test("SIGTERM stops the daemon even while clients keep connections open (idle, subscribed)")
    func stopWithOpenConnections() async throws {
        try await withDaemon { d in
            let idle = try await blocking { [socket = d.socket] in
                let c = try RawConnection(path: socket)
                _ = try CP.call(c, id: 1, "daemon.status")
                return c
            }
            let subscriber = try await CP.Subscriber.open(d.socket, [:])
            kill(d.pid, SIGTERM)
            let exited = await waitUntil(timeout: .seconds(10)) { [process = d.process] in !process.isRunning }
            #expect(exited, "tide serve still runs 10 s after SIGTERM while two clients are connected; log:\n\(d.log.suffix(3000))")
            // let it finish stopping (withDaemon waits for the exit)
            idle.hangUp()
            subscriber.close()
        }
    }

    @Test("runs accepted the moment the socket answers are neither marked interrupted nor run twice")
    func runsRightAfterStart() async throws {
        let flow = """
            flow { name = "tally", max_concurrent = 1, run = function(ctx)
              \(CP.gateWait)
              local n = (kv.get("n") or 0) + 1
              kv.set("n", n)
              return n
            end }
            """
        // a few daemons at once: the window is the daemon's start-up, so load widens it
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<3 {
                group.addTask {
                    try await withScratchDirectory { home in
                        try home.write("flows/tally.lua", flow)
                        let d = try await RunningDaemon(home: home, waitForSocket: false)
                        do {
                            try await Self.startRightAway(d)
                            await d.stop()
                        } catch {
                            await d.stop(signal: SIGKILL)
                            throw error
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Starts two runs as soon as the socket accepts (one running, one queued), then checks them.
    private static func startRightAway(_ d: RunningDaemon) async throws {
        let gate = d.home.path + "/gate"
        let (first, second) = try await blocking { [socket = d.socket] in
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(20)
            var connection: RawConnection?
            while connection == nil, clock.now < deadline {
                connection = try? RawConnection(path: socket)
                if connection == nil { usleep(1000) }
            }
            guard let c = connection else { throw HarnessError("the socket never answered") }
            let first = try CP.call(c, id: 1, "run.start", ["flow": "tally", "payload": ["gate": gate]])
            let second = try CP.call(c, id: 2, "run.start", ["flow": "tally", "payload": ["gate": gate]])
            return (first, second)
        }
        let a = try #require(first["result"]?["run_id"]?.string, "\(first); log:\n\(d.log)")
        let b = try #require(second["result"]?["run_id"]?.string, "\(second)")
        #expect(first["result"]?["status"] == .string("running") && second["result"]?["status"] == .string("queued"))
        let during = try await CP.result(d, "run.get", ["run_id": a])
        #expect(during["status"] == .string("running"),
                "a run accepted by this daemon, still waiting for its gate: \(during); log:\n\(d.log.suffix(3000))")
        try d.home.write("gate", "")
        let runA = try await CP.finishedRun(d, a)
        let runB = try await CP.finishedRun(d, b)
        // once the gate is open, both run; a third run counts how many ran before it
        let third = try await CP.result(d, "run.start", ["flow": "tally", "wait": true, "payload": ["gate": gate]])
        #expect(third["result"] == .number(3), "kv counter after two runs + this one (4 = a run executed twice): \(third); log:\n\(d.log.suffix(3000))")
        let results = try await [CP.finishedRun(d, a), CP.finishedRun(d, b)].map { $0["status"] ?? .null }
        #expect(results == [.string("succeeded"), .string("succeeded")], "\(runA) \(runB)")
    }
}

// MARK: - Helpers

/// Helpers of this file (a namespace, so nothing clashes with other test files).
private enum CP {
    /// Lua that waits (up to 10 s) until the file `ctx.payload.gate` exists.
    static let gateWait = """
        for _ = 1, 500 do
            if sh("test -e '" .. ctx.payload.gate .. "'", {check = false}).status == 0 then break end
            sleep("20ms")
          end
        """

    /// One request line (with its `\n`); `id` nil makes a notification.
    static func line(id: Any?, _ method: String, _ params: [String: Any]? = nil) -> String {
        var message: [String: Any] = ["jsonrpc": "2.0", "method": method]
        if let id { message["id"] = id }
        if let params { message["params"] = params }
        let data = try! JSONSerialization.data(withJSONObject: message, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// The next message on `c`, any JSON value; throws if the daemon closed the connection.
    static func next(_ c: RawConnection) throws -> JSONValue {
        guard let line = try c.readLine() else { throw HarnessError("the daemon closed the connection") }
        do {
            return try JSONValue.parse(line)
        } catch {
            throw HarnessError("the daemon wrote a line that is not JSON: \(line.prefix(500))")
        }
    }

    /// Sends a request and returns its response, skipping notifications.
    static func call(_ c: RawConnection, id: Any, _ method: String, _ params: [String: Any]? = nil) throws -> JSONValue {
        let text = line(id: id, method, params)
        let expected: JSONValue
        switch id {
        case let n as Int: expected = .number(Double(n))
        case let s as String: expected = .string(s)
        default: throw HarnessError("ids here are Ints or Strings")
        }
        try c.send(text)
        while true {
            let message = try next(c)
            if message["id"] == expected { return message }
        }
    }



    /// Sends one request on a new connection and returns the whole response.
    static func rpc(_ d: RunningDaemon, _ method: String, _ params: [String: Any]? = nil) async throws -> JSONValue {
        let text = line(id: 1, method, params)
        return try await blocking { [socket = d.socket] in
            let c = try RawConnection(path: socket)
            try c.send(text)
            while true {
                let message = try next(c)
                if message["id"] == .number(1) { return message }
            }
        }
    }

    /// The result of a request; throws its error.
    static func result(_ d: RunningDaemon, _ method: String, _ params: [String: Any]? = nil) async throws -> JSONValue {
        let response = try await rpc(d, method, params)
        guard let result = response["result"] else {
            throw HarnessError("\(method) failed: \(response)")
        }
        return result
    }

    static func errorCode(_ response: JSONValue) -> Int? {
        response["error"]?["code"]?.number.map { Int($0) }
    }

    static func errorMessage(_ response: JSONValue) -> String {
        response["error"]?["message"]?.string ?? ""
    }

    /// Polls `condition` every 25 ms until it holds or `timeout` passes.
    static func eventually(_ timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return try await condition()
    }

    /// `run.get` once the run has finished (fails after `timeout`).
    static func finishedRun(_ d: RunningDaemon, _ id: String, timeout: Duration = .seconds(15)) async throws -> JSONValue {
        var run: JSONValue = .null
        let done = try await eventually(timeout) {
            run = try await result(d, "run.get", ["run_id": id])
            return !["queued", "running"].contains(run["status"]?.string ?? "")
        }
        guard done else { throw HarnessError("run \(id) did not finish within \(timeout): \(run); log:\n\(d.log.suffix(3000))") }
        return run
    }

    /// Seconds since the epoch of an ISO 8601 timestamp (fractional seconds optional).
    static func time(_ text: String) -> Double? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)?.timeIntervalSince1970
    }

    /// Raises this process's soft limit on open files (the daemon started afterwards inherits it).
    static func raiseFileLimit(to wanted: UInt) {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        if limit.rlim_cur < rlim_t(wanted) {
            limit.rlim_cur = min(rlim_t(wanted), limit.rlim_max)
            _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        }
    }

    /// A connection that sent one streaming request and is read message by message.
    final class Stream: @unchecked Sendable {
        let connection: RawConnection

        init(_ socket: String, _ request: String) throws {
            connection = try RawConnection(path: socket)
            try connection.send(request)
        }

        func next() throws -> JSONValue { try CP.next(connection) }

        func close() { connection.hangUp() }
    }

    /// An `events.subscribe` connection: its answer, then its notifications.
    final class Subscriber: @unchecked Sendable {
        let stream: Stream
        let answer: JSONValue

        private init(stream: Stream, answer: JSONValue) {
            self.stream = stream
            self.answer = answer
        }

        /// Subscribes and waits for the answer (after which no event is missed).
        static func open(_ socket: String, _ params: [String: String]) async throws -> Subscriber {
            let request = CP.line(id: "sub", "events.subscribe", params)
            return try await blocking {
                let stream = try Stream(socket, request)
                while true {
                    let message = try stream.next()
                    if message["id"] != nil { return Subscriber(stream: stream, answer: message) }
                }
            }
        }

        /// Notifications up to and including the first that `last` matches.
        func read(until last: @escaping @Sendable (JSONValue) -> Bool) async throws -> [JSONValue] {
            try await blocking { [stream] in
                var seen: [JSONValue] = []
                while true {
                    let message = try stream.next()
                    seen.append(message)
                    if last(message) { return seen }
                }
            }
        }

        func close() { stream.close() }
    }
}
