// ControlAPI.swift: the methods of the control protocol (SPEC §7), over the daemon's services.
import Foundation
import TideEngine
import TideProtocol
import TideSchedule
import TideStore

/// Where a method's streamed notifications go (the connection that asked).
public protocol NotificationSink: Sendable {
    /// Writes one notification to the client (waiting while the client is not reading).
    func send(_ message: JSONValue) async
    /// Writes a response to the client (a method that answers before it streams).
    func send(_ response: RPCResponse) async
}

/// Facts about the daemon for `daemon.status`.
public struct DaemonInfo: Sendable {
    public var version: String
    public var home: String
    public var state: String
    public var socket: String
    public var startedAt: Double

    /// Creates the facts.
    public init(version: String, home: String, state: String, socket: String, startedAt: Double) {
        self.version = version
        self.home = home
        self.state = state
        self.socket = socket
        self.startedAt = startedAt
    }
}

/// Answers requests. Each method validates its params (-32602 with what is wrong), then works.
public struct ControlAPI: Sendable {
    let info: DaemonInfo
    let registry: FlowRegistry
    let runs: RunManager
    let store: RunStore
    let hub: EventHub
    let reloader: ReloadService
    let shutdown: @Sendable () -> Void

    /// Creates the API.
    public init(info: DaemonInfo, registry: FlowRegistry, runs: RunManager, store: RunStore, hub: EventHub,
                reloader: ReloadService, shutdown: @escaping @Sendable () -> Void) {
        self.info = info
        self.registry = registry
        self.runs = runs
        self.store = store
        self.hub = hub
        self.reloader = reloader
        self.shutdown = shutdown
    }

    /// Methods that stream and so cannot be part of a batch.
    static let streaming: Set<String> = ["events.subscribe"]

    /// Answers one request: its result, or throws the error to answer with; nil when the method
    /// answered by itself (a subscription answers at once, then streams).
    public func handle(_ request: RPCRequest, sink: NotificationSink) async throws(RPCError) -> JSONValue? {
        switch request.method {
        case "daemon.status":
            try request.expectParams([])
            return await status()
        case "flows.list":
            try request.expectParams([])
            return await flowsList()
        case "run.start":
            try request.expectParams(["flow", "payload", "wait", "follow"])
            return try await start(request, sink: sink)
        case "run.get":
            try request.expectParams(["run_id"])
            return try await report(try request.string("run_id"))
        case "run.cancel":
            try request.expectParams(["run_id", "wait"])
            let id = try request.string("run_id")
            let wait = try request.bool("wait")
            let before = try await runs.cancel(id)
            if wait {
                if let finished = await runs.waitUntilFinished(id) { return JSONValue(report: finished.row.report(steps: finished.steps)) }
                return try await report(id)
            }
            return .object(["run_id": .string(id), "previous_status": .string(before.rawValue),
                            "status": .string(before == .queued ? "cancelled" : "cancelling")])
        case "runs.list":
            try request.expectParams(["flow", "status", "limit"])
            return try await list(request)
        case "run.logs":
            try request.expectParams(["run_id", "follow", "after"])
            return try await logs(request, sink: sink)
        case "events.subscribe":
            try request.expectParams(["flow", "run_id"])
            return try await subscribe(request, sink: sink)
        case "reload":
            try request.expectParams([])
            let changed = await reloader.reloadAll()
            var list = await flowsList()
            if case .object(var members) = list {
                members["changed"] = .array(changed.map(JSONValue.string))
                list = .object(members)
            }
            return list
        case "daemon.shutdown":
            try request.expectParams([])
            shutdown()
            return .object(["stopping": .bool(true)])
        case "schedule.next":
            try request.expectParams(["expr", "count", "from", "tz"])
            return try scheduleNext(request)
        case "plugins.list":
            try request.expectParams([])
            return pluginsList()
        default:
            throw RPCError(.methodNotFound, "unknown method '\(request.method)' (methods: daemon.status, flows.list, run.start, run.get, run.cancel, runs.list, run.logs, events.subscribe, reload, schedule.next, plugins.list, daemon.shutdown)", id: request.id)
        }
    }

    // MARK: - Methods

    private func status() async -> JSONValue {
        let snapshot = registry.snapshot()
        let counts = await runs.counts()
        let now = Date().timeIntervalSince1970
        return JSONValue(encoding: DaemonStatus(
            version: info.version, pid: Int(getpid()), home: info.home, state: info.state, socket: info.socket,
            startedAt: isoTimestamp(info.startedAt), uptimeSeconds: ((now - info.startedAt) * 1000).rounded() / 1000,
            flows: snapshot.flows.count, failedFiles: snapshot.errors.count,
            running: counts.running.values.reduce(0, +), queued: counts.queued.values.reduce(0, +),
            watcher: reloader.watcher.mode.rawValue))
    }

    private func flowsList() async -> JSONValue {
        let snapshot = registry.snapshot()
        let counts = await runs.counts()
        let last = (try? await store.lastRuns(of: snapshot.flows.map(\.definition.name))) ?? [:]
        let now = Date()
        let flows = snapshot.flows.map { f in
            let d = f.definition
            return FlowInfo(
                name: d.name, file: f.file, line: d.line, description: d.description, schedule: d.schedule,
                timezone: d.timezone, nextStart: Self.nextStart(of: d, after: now), on: d.on, maxConcurrent: d.maxConcurrent,
                running: counts.running[d.name] ?? 0, queued: counts.queued[d.name] ?? 0,
                lastRun: last[d.name]?.summary, stale: f.stale)
        }
        return JSONValue(encoding: FlowsList(flows: flows, errors: snapshot.errors))
    }

    /// The plugins that load (name, version, description, file) and the ones that fail, as the
    /// last reload validated them.
    private func pluginsList() -> JSONValue {
        JSONValue(encoding: registry.pluginList())
    }

    /// The flow's next scheduled start, in its schedule's zone (nil without a cron or @every schedule).
    static func nextStart(of definition: FlowDefinition, after now: Date) -> String? {
        guard let schedules = try? definition.parsedSchedules() else { return nil }
        let next = schedules.compactMap { schedule in schedule.next(after: now).map { (schedule, $0) } }.min { $0.1 < $1.1 }
        return next.map { formatISO8601($0.1, in: $0.0.zone) }
    }

    /// The most starts `schedule.next` lists at once.
    static let maxNextCount = 10_000

    private func scheduleNext(_ request: RPCRequest) throws(RPCError) -> JSONValue {
        let expr = try request.string("expr")
        let count = try request.positiveInt("count") ?? 5
        guard count <= Self.maxNextCount else {
            throw RPCError(.invalidParams, "parameter 'count' must be at most \(Self.maxNextCount), got \(count)", id: request.id)
        }
        var zone = TimeZone.current
        if let name = try request.optionalString("tz") {
            do {
                zone = try parseScheduleZone(name)
            } catch {
                throw RPCError(.invalidParams, "parameter 'tz': \(error.message)", id: request.id)
            }
        }
        var from = Date()
        if let text = try request.optionalString("from") {
            guard let parsed = parseISO8601(text, defaultZone: zone) else {
                throw RPCError(.invalidParams, "parameter 'from' must be an ISO 8601 instant such as 2026-03-08T01:30:00-05:00, got '\(text)'", id: request.id)
            }
            from = parsed
        }
        let schedule: Schedule
        do {
            schedule = try Schedule.parse(expr, defaultZone: zone)
        } catch {
            throw RPCError(.invalidParams, "parameter 'expr': \(error)", id: request.id)
        }
        let starts = schedule.starts(after: from, count: count).map { JSONValue.string(formatISO8601($0, in: schedule.zone)) }
        var result: [String: JSONValue] = [
            "expr": .string(expr), "timezone": .string(schedule.zone.identifier), "starts": .array(starts),
        ]
        if schedule.kind == .reboot { result["note"] = .string("@reboot fires once when the daemon starts; it has no instants") }
        return .object(result)
    }

    private func start(_ request: RPCRequest, sink: NotificationSink) async throws(RPCError) -> JSONValue {
        let flow = try request.string("flow")
        var payload: String?
        if let value = request.param("payload") {
            switch value {
            case .object, .array: payload = value.jsonText
            default: throw RPCError(.invalidParams, "parameter 'payload' must be a JSON object or array, got \(value.typeName)", id: request.id)
            }
        }
        let follow = try request.bool("follow")
        let wait = try request.bool("wait") || follow
        let id = makeRunID()
        // subscribe before the run exists, so no event of it is missed
        let subscription = follow ? hub.subscribe(.run(id)) : nil
        defer { subscription?.cancel() }
        let row = try await runs.start(StartRequest(flow: flow, payload: payload, runID: id))
        let stale = staleNote(row)
        guard wait else {
            var answer: [String: JSONValue] = ["run_id": .string(row.id), "flow": .string(row.flow), "status": .string(row.status.rawValue)]
            answer["stale"] = stale
            return .object(answer)
        }
        if let subscription {
            if let stale {
                await sink.send(RPCMessage.notification("run.stale", .object(["run_id": .string(row.id), "stale": stale])))
            }
            if row.status == .queued {
                await sink.send(RPCMessage.notification("run.queued", .object(["run_id": .string(row.id), "flow": .string(row.flow)])))
            }
            for await event in subscription.events {
                if subscription.overflowed {
                    // the live view fell behind: it gets the finished run below all the same
                    subscription.cancel()
                    await sink.send(Self.dropped(limit: hub.bufferLimit))
                    break
                }
                await sink.send(event.message)
                if event.method == "run.finished" { break }
            }
        }
        var answer: JSONValue
        if let finished = await runs.waitUntilFinished(row.id) {
            answer = JSONValue(report: finished.row.report(steps: finished.steps))
        } else {
            answer = try await report(row.id)
        }
        if let stale, case .object(var fields) = answer {
            fields["stale"] = stale
            answer = .object(fields)
        }
        return answer
    }

    /// When the run's file changed and its newest version failed to load, the run is of the
    /// version loaded before: `{file, error, since}`, for the client to say so.
    private func staleNote(_ row: RunRow) -> JSONValue? {
        guard registry.flow(named: row.flow)?.stale == true,
              let failure = registry.snapshot().errors.first(where: { $0.file == row.file }) else { return nil }
        return .object(["file": .string(failure.file), "error": .string(failure.error), "since": .string(failure.since)])
    }

    private func report(_ id: String) async throws(RPCError) -> JSONValue {
        do {
            if await runs.isLive(id) { try await store.flush() }
            guard let row = try await store.run(id) else {
                throw RPCError(tide: "run_not_found", "no run with id '\(id)' (tide runs lists recent runs)")
            }
            let steps = try await store.steps(of: id)
            return JSONValue(report: row.report(steps: steps))
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(tide: "store_failed", "could not read the run history: \(error)")
        }
    }

    private func list(_ request: RPCRequest) async throws(RPCError) -> JSONValue {
        var filter = RunFilter(flow: try request.optionalString("flow"), limit: try request.positiveInt("limit") ?? 20)
        if let status = try request.optionalString("status") {
            guard let parsed = RunStatus(rawValue: status) else {
                throw RPCError(.invalidParams, "parameter 'status' must be one of \(RunStatus.allCases.map(\.rawValue).joined(separator: ", ")), got '\(status)'", id: request.id)
            }
            filter.status = parsed
        }
        filter.limit = min(filter.limit, 10_000)
        do {
            let rows = try await store.runs(filter)
            return .object(["runs": .array(rows.map { JSONValue(summary: $0.summary) })])
        } catch {
            throw RPCError(tide: "store_failed", "could not read the run history: \(error)")
        }
    }

    private func logs(_ request: RPCRequest, sink: NotificationSink) async throws(RPCError) -> JSONValue {
        let id = try request.string("run_id")
        let follow = try request.bool("follow")
        var after = 0
        if let a = request.param("after") {
            guard let n = a.number, n >= 0, n <= Double(Int32.max), n == n.rounded() else {
                throw RPCError(.invalidParams, "parameter 'after' must be a log sequence number (an integer >= 0)", id: request.id)
            }
            after = Int(n)
        }
        do {
            guard follow else {
                if await runs.isLive(id) { try await store.flush() }
                guard let row = try await store.run(id) else { throw RPCError(tide: "run_not_found", "no run with id '\(id)'") }
                var lines: [JSONValue] = []
                after = try await history(of: id, after: after) { lines.append(JSONValue(log: $0)) }
                let status = try await store.run(id)?.status ?? row.status
                return .object(["run_id": .string(id), "status": .string(status.rawValue), "lines": .array(lines)])
            }
            // Follow: the lines recorded, then the live ones. A follower that falls more than the
            // hub's queue behind (its subscription overflows) misses nothing: the rest is in the
            // history, read page by page as fast as it reads, and then it follows again.
            while !Task.isCancelled {
                // subscribe first, so no line falls between the history and the live stream
                let subscription = hub.subscribe(.run(id))
                defer { subscription.cancel() }
                let live = await runs.isLive(id)  // its run.finished is still to come
                if live { try await store.flush() }
                guard let row = try await store.run(id) else { throw RPCError(tide: "run_not_found", "no run with id '\(id)'") }
                func notify(_ line: JSONValue) async {
                    await sink.send(RPCMessage.notification("run.log", .object(["run_id": .string(id), "flow": .string(row.flow), "line": line])))
                }
                after = try await history(of: id, after: after) { await notify(JSONValue(log: $0)) }
                guard live else { break }
                var finished = false
                for await event in subscription.events {
                    if subscription.overflowed { break }  // behind: catch up from the history
                    if event.method == "run.finished" {
                        finished = true
                        break
                    }
                    guard event.method == "run.log", let line = event.params["line"], let seq = line["seq"]?.number.map(Int.init), seq > after else {
                        continue  // already sent from the history
                    }
                    await sink.send(event.message)
                    after = seq
                }
                if finished { break }
            }
            let status = try await store.run(id)?.status ?? .running
            return .object(["run_id": .string(id), "status": .string(status.rawValue), "lines": .array([])])
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(tide: "store_failed", "could not read the run history: \(error)")
        }
    }

    /// Passes a run's recorded lines after `after` to `each`, a page at a time; returns the last
    /// sequence number seen.
    private func history(of id: String, after: Int, _ each: (LogEntry) async -> Void) async throws -> Int {
        var after = after
        while true {
            let page = try await store.logs(of: id, after: after, limit: 1000)
            for entry in page {
                await each(entry)
                after = entry.seq
            }
            if page.count < 1000 { return after }
        }
    }

    /// The notification to a subscriber that fell too far behind.
    static func dropped(limit: Int) -> JSONValue {
        RPCMessage.notification("events.dropped", .object([
            "limit": .int(Int64(limit)),
            "message": .string("this subscriber fell more than \(limit) events behind and was dropped (the events after that were not sent); subscribe again, and read what was missed with run.get or run.logs"),
        ]))
    }

    private func subscribe(_ request: RPCRequest, sink: NotificationSink) async throws(RPCError) -> JSONValue? {
        let filter: EventFilter
        if let run = try request.optionalString("run_id") {
            filter = .run(run)
        } else if let flow = try request.optionalString("flow") {
            filter = .flow(flow)
        } else {
            filter = .all
        }
        let subscription = hub.subscribe(filter)
        defer { subscription.cancel() }
        if let id = request.id {
            await sink.send(RPCResponse.result(.object(["subscribed": .bool(true)]), id: id))
        }
        for await event in subscription.events {
            if subscription.overflowed { break }  // what is still queued is stale: drop it at once
            await sink.send(event.message)
        }
        // the connection closed (the task was cancelled), or the subscriber fell behind
        if subscription.overflowed {
            subscription.cancel()  // frees the queue before the (slow) write below
            await sink.send(Self.dropped(limit: hub.bufferLimit))
        }
        return nil
    }
}
