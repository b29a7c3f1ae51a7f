// RunManager.swift: accepts runs, queues them durably past max_concurrent, executes and records them.
import DequeModule
import Foundation
import Logging
import ServiceLifecycle
import TideEngine
import TideProtocol
import TideStore

/// A start a schedule asks for.
public struct ScheduledStart: Sendable {
    public var request: StartRequest
    public var overlap: OverlapPolicy
    /// The schedule's watermark to record with the run (nil for `@reboot`).
    public var mark: ScheduleMark?

    public init(request: StartRequest, overlap: OverlapPolicy, mark: ScheduleMark?) {
        self.request = request
        self.overlap = overlap
        self.mark = mark
    }
}

/// What starts a run.
public struct StartRequest: Sendable {
    public var flow: String
    /// JSON text of the payload (object or array).
    public var payload: String?
    public var trigger: String = "manual"
    public var scheduledAt: String?
    /// JSON text of the triggering run's summary.
    public var event: String?
    /// Chosen by the caller (to subscribe to the run's events before it starts), else made here.
    public var runID: String?
    /// The schedule watermark recorded with the run (scheduled runs).
    public var mark: ScheduleMark?
    /// Start only when no other run of the flow is running (a scheduled start with
    /// `overlap = "queue"`): it waits in the queue meanwhile.
    public var exclusive = false

    /// Creates a request.
    public init(flow: String, payload: String? = nil, trigger: String = "manual", scheduledAt: String? = nil,
                event: String? = nil, runID: String? = nil) {
        self.flow = flow
        self.payload = payload
        self.trigger = trigger
        self.scheduledAt = scheduledAt
        self.event = event
        self.runID = runID
    }
}

/// The run queue and executor: the one place runs start, finish and are cancelled.
///
/// A run is recorded (durably) before `start` returns. Runs past a flow's `max_concurrent` wait
/// in a FIFO queue that is also in the store, so they survive a restart. Each run executes in a
/// child task of ``run()``; on graceful shutdown no new run starts, running ones get
/// `gracePeriod`, then are cancelled (and recorded as cancelled), and queued ones stay queued.
public actor RunManager: Service {
    private struct Active {
        var flow: String
        var cancellation: RunCancellation
        var observer: DaemonObserver
    }

    private struct Launch: Sendable {
        var row: RunRow
        var flow: LoadedFlow
        var cancellation: RunCancellation
        var observer: DaemonObserver
    }

    private let registry: FlowRegistry
    private let store: RunStore
    private let hub: EventHub
    private let logger: Logger
    private let limits: EngineLimits
    private let gracePeriod: Duration
    /// Set by a second stop signal: no grace period, and cleanup cut short.
    private var hurried = false
    private let plugins: String
    /// Runs executing at once, across flows; more wait in the queue (each run has a thread).
    private let maxRunning: Int
    private var totalRunning = 0

    private var active: [String: Active] = [:]
    private var running: [String: Int] = [:]
    private var queues: [String: Deque<RunRow>] = [:]
    /// The end of each running or queued run, for callers that wait for it.
    private var completions: [String: RunCompletion] = [:]
    private var accepting = true
    private let launches: AsyncStream<Launch>
    private let launcher: AsyncStream<Launch>.Continuation
    /// Every queued run across flows, oldest first (runs cancelled while queued leave their
    /// entry behind; it is dropped when reached).
    private var order: Deque<RunRow> = []
    /// Queued runs that wait until no run of their flow is running (`overlap = "queue"`).
    private var exclusive: Set<String> = []
    /// Runs started by event triggers, started one by one by a child task of run().
    private let triggers: AsyncStream<StartRequest>
    private let triggerer: AsyncStream<StartRequest>.Continuation

    /// Creates the manager; ``run()`` recovers the queue and executes runs.
    public init(registry: FlowRegistry, store: RunStore, hub: EventHub, limits: EngineLimits = EngineLimits(),
                gracePeriod: Duration = .seconds(10), maxRunning: Int = 256, logger: Logger) {
        self.registry = registry
        self.store = store
        self.hub = hub
        self.limits = limits
        self.gracePeriod = gracePeriod
        self.maxRunning = maxRunning
        self.logger = logger
        self.plugins = registry.home + "/plugins"
        (launches, launcher) = AsyncStream.makeStream(of: Launch.self)
        (triggers, triggerer) = AsyncStream.makeStream(of: StartRequest.self)
    }

    // MARK: - Service

    /// At start-up, before the socket accepts anything: marks the runs a dead daemon left
    /// running as interrupted and takes back the queue.
    public func recover() async throws {
        let (interrupted, queued) = try await store.recover(at: Date().timeIntervalSince1970)
        for id in interrupted { logger.warning("run was in progress when the daemon stopped: marked interrupted", metadata: ["run": "\(id)"]) }
        for row in queued {
            queues[row.flow, default: []].append(row)
            order.append(row)
            completions[row.id] = RunCompletion()
        }
        if !queued.isEmpty { logger.info("resuming queued runs", metadata: ["count": "\(queued.count)"]) }
    }

    public func run() async throws {
        await startQueued()
        fireDaemonStarted()
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await gracefulShutdown()  // returns on graceful shutdown, throws on cancellation
                await self.shutdown()
            }
            group.addTask {
                for await request in self.triggers { _ = try? await self.start(request) }
            }
            for await launch in launches {
                group.addTask { await self.execute(launch) }
            }
        }
    }

    /// Stops accepting runs, lets running ones finish within the grace period, then cancels
    /// them, again every 5 s while their cleanup goes on (the engine stops cleanup at the second
    /// request); after ``hurry()``, without grace and every 50 ms, so cleanup is cut short too.
    private func shutdown() async {
        guard accepting else { return }
        accepting = false
        if totalRunning > 0 {
            logger.info("stopping: waiting for running runs", metadata: ["count": "\(totalRunning)", "grace": "\(gracePeriod)"])
            if !hurried { await waitForDrain(gracePeriod) }
            var told: Set<String> = []
            while totalRunning > 0 && !Task.isCancelled {
                for (id, run) in active {
                    if told.insert(id).inserted { logger.warning("stopping: cancelling run", metadata: ["run": "\(id)"]) }
                    run.cancellation.cancel(reason: hurried ? "the daemon is stopping at once (a second stop signal)" : "the daemon is shutting down")
                }
                // at once: the commands of runs and of their cleanup are killed, not asked to stop
                if hurried { LiveProcesses.killAll() }
                await waitForDrain(hurried ? .milliseconds(50) : .seconds(5))
            }
        }
        for completion in completions.values { completion.abandon() }  // queued runs stay queued
        launcher.finish()
        triggerer.finish()
    }

    /// A second stop signal: the grace period, or the wait between two cancels, ends now, and
    /// the commands still running are killed (SIGKILL to their process groups).
    public func hurry() {
        hurried = true
        guard !accepting else { return }  // not stopping yet: shutdown() starts hurried
        for run in active.values { run.cancellation.cancel(reason: "the daemon is stopping at once (a second stop signal)") }
        LiveProcesses.killAll()  // after the cancel: a run sees it before its command's end
    }

    /// Waits until no run holds a slot (reserved or running), `timeout` passes, or ``hurry()``
    /// is called.
    private func waitForDrain(_ timeout: Duration) async {
        let wasHurried = hurried
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while totalRunning > 0 && clock.now < deadline && hurried == wasHurried {
            do {
                try await Task.sleep(for: .milliseconds(20))  // only while stopping
            } catch {
                return  // cancelled: the runs were cancelled with the task; their children still end
            }
        }
    }

    // MARK: - Starting

    /// A run accepted but not yet recorded: its slot is reserved when it runs at once.
    private struct Admission {
        var row: RunRow
        var flow: LoadedFlow
        var runNow: Bool
        var exclusive: Bool
        var mark: ScheduleMark?
    }

    /// Records a run and starts it, or queues it behind the flow's `max_concurrent`.
    public func start(_ request: StartRequest) async throws(RPCError) -> RunRow {
        guard accepting else {
            throw RPCError(tide: "daemon_stopping", "the daemon is shutting down and accepts no new runs")
        }
        let admission = try admit(request)
        do {
            try await store.insert(admission.row, mark: admission.mark)
        } catch {
            abandon(admission)
            logger.error("could not record a new run", metadata: ["flow": "\(admission.row.flow)", "error": "\(error)"])
            throw RPCError(tide: "store_failed", "could not record the run: \(error)")
        }
        settle(admission)
        if !admission.runNow {
            logger.info("queued", metadata: ["run": "\(admission.row.id)", "flow": "\(admission.row.flow)", "position": "\(queues[admission.row.flow]?.count ?? 0)"])
            await startQueued()  // a slot may have freed during the insert
        }
        return admission.row
    }

    /// Makes the run's row; reserves the slot before waiting for the disk. A queued run joins
    /// the queue only once recorded (``settle(_:)``), so nothing can start it (and write its
    /// start) before its insert.
    private func admit(_ request: StartRequest) throws(RPCError) -> Admission {
        guard let flow = registry.flow(named: request.flow) else {
            throw flowNotFound(request.flow)
        }
        let name = flow.definition.name
        let now = Date().timeIntervalSince1970
        let runNow = canStart(flow.definition) && (queues[name]?.isEmpty ?? true)
            && !(request.exclusive && running[name, default: 0] > 0)
        let row = RunRow(
            id: request.runID ?? makeRunID(), flow: name, file: flow.file, status: runNow ? .running : .queued,
            trigger: request.trigger, payload: request.payload, scheduledAt: request.scheduledAt, event: request.event,
            queuedAt: now, startedAt: runNow ? now : nil)
        if runNow { reserve(name) }
        completions[row.id] = RunCompletion()
        return Admission(row: row, flow: flow, runNow: runNow, exclusive: request.exclusive, mark: request.mark)
    }

    /// The run could not be recorded: it never happened.
    private func abandon(_ admission: Admission) {
        if admission.runNow { release(admission.row.flow) }
        completions[admission.row.id] = nil
    }

    /// The run is recorded: it starts, or joins the queue.
    private func settle(_ admission: Admission) {
        let row = admission.row
        if admission.runNow {
            launch(row, admission.flow)  // while stopping too: shutdown waits for reserved slots
        } else {
            queues[row.flow, default: []].append(row)
            order.append(row)
            if admission.exclusive { exclusive.insert(row.id) }
        }
    }

    private func canStart(_ definition: FlowDefinition) -> Bool {
        guard totalRunning < maxRunning else { return false }
        guard let limit = definition.maxConcurrent else { return true }
        return running[definition.name, default: 0] < limit
    }

    private func reserve(_ flow: String) {
        running[flow, default: 0] += 1
        totalRunning += 1
    }

    private func release(_ flow: String) {
        running[flow, default: 1] -= 1
        totalRunning -= 1
    }

    private func flowNotFound(_ name: String) -> RPCError {
        let snapshot = registry.snapshot()
        if let failed = snapshot.errors.first(where: { ($0.file as NSString).lastPathComponent == name + ".lua" }) {
            return RPCError(tide: "flow_invalid", "flow '\(name)' is not loaded: \(failed.error)")
        }
        let names = snapshot.flows.map(\.definition.name)
        return RPCError(tide: "flow_not_found", "no flow named '\(name)' (flows: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
    }

    private func launch(_ row: RunRow, _ flow: LoadedFlow) {
        let observer = DaemonObserver(runID: row.id, flow: row.flow, store: store, hub: hub)
        let cancellation = RunCancellation()
        active[row.id] = Active(flow: row.flow, cancellation: cancellation, observer: observer)
        launcher.yield(Launch(row: row, flow: flow, cancellation: cancellation, observer: observer))
    }

    /// Starts queued runs while there is room, oldest first across flows. One walk of the
    /// queue in arrival order, stopping when every slot is taken: with 10,000 flows queued
    /// at one instant, each finish costs a step, not a scan of every flow.
    private func startQueued() async {
        var kept: [RunRow] = []  // runs of flows at their max_concurrent, in order
        var blocked: Set<String> = []
        while accepting, totalRunning < maxRunning, let head = order.popFirst() {
            let name = head.flow
            if blocked.contains(name) {
                kept.append(head)
                continue
            }
            // older runs of the same flow come first in `order`: a run that is not its flow's
            // head was cancelled while queued
            guard queues[name]?.first?.id == head.id else { continue }
            guard let loaded = registry.flow(named: name) else {
                dequeue(name)
                // the flow went away while its runs waited
                let error = #"{"code":"flow_not_found","message":"flow '\#(name)' no longer exists (its file was removed or renamed)"}"#
                await record(head, status: .failed, error: error)
                continue
            }
            if !canStart(loaded.definition) || (exclusive.contains(head.id) && running[name, default: 0] > 0) {
                blocked.insert(name)
                kept.append(head)
                continue
            }
            dequeue(name)
            var row = head
            reserve(name)
            row.status = .running
            row.startedAt = Date().timeIntervalSince1970
            store.markRunning(row.id, at: row.startedAt!)
            launch(row, loaded)
        }
        order.insert(contentsOf: kept, at: 0)
    }

    private func dequeue(_ name: String) {
        guard let row = queues[name]?.removeFirst() else { return }
        if queues[name]?.isEmpty == true { queues[name] = nil }
        exclusive.remove(row.id)
    }

    /// Records the end of a run that never executed (cancelled in the queue, flow gone).
    private func record(_ row: RunRow, status: RunStatus, error: String) async {
        let now = Date().timeIntervalSince1970
        do {
            try await store.finish(row.id, status: status, startedAt: nil, at: now, result: nil, error: error, compensationErrors: nil, steps: [])
        } catch {
            logger.error("could not record the end of a run", metadata: ["run": "\(row.id)", "error": "\(error)"])
        }
        var finished = row
        finished.status = status
        finished.startedAt = nil  // it never ran
        finished.finishedAt = now
        finished.error = error
        announceFinished(finished, steps: [])
    }

    // MARK: - Executing (in a child task of run())

    private nonisolated func execute(_ launch: Launch) async {
        let row = launch.row
        hub.publish(DaemonEvent(method: "run.started", runID: row.id, flow: row.flow, params: .object([
            "run_id": .string(row.id), "flow": .string(row.flow), "trigger": .string(row.trigger),
            "started_at": .string(isoTimestamp(row.startedAt ?? row.queuedAt)),
        ])))
        let request = RunRequest(
            script: launch.flow.script, flow: row.flow, payload: row.payload, runID: row.id, trigger: row.trigger,
            scheduledAt: row.scheduledAt, event: row.event, plugins: plugins, failedPlugins: registry.failedPlugins(), keyValues: store,
            definition: launch.flow.definition)
        let outcome = await RunExecutor.execute(request, limits: limits, observer: launch.observer, cancellation: launch.cancellation)
        let status = RunStatus(rawValue: outcome.status.rawValue)!
        do {
            try await store.finish(
                row.id, status: status, startedAt: outcome.startedAt, at: outcome.finishedAt, result: outcome.result, error: outcome.error,
                compensationErrors: outcome.compensationErrors, steps: outcome.steps)
        } catch {
            logger.error("could not record the end of a run", metadata: ["run": "\(row.id)", "error": "\(error)"])
        }
        var finished = row
        finished.status = status
        finished.startedAt = outcome.startedAt
        finished.finishedAt = outcome.finishedAt
        finished.result = outcome.result
        finished.error = outcome.error
        finished.compensationErrors = outcome.compensationErrors
        await self.finished(finished, steps: outcome.steps)
    }

    private func finished(_ row: RunRow, steps: [StepRecord]) async {
        active[row.id] = nil
        release(row.flow)
        let level: Logger.Level = row.status == .succeeded ? .info : .warning
        logger.log(level: level, "run \(row.status.rawValue)", metadata: [
            "run": "\(row.id)", "flow": "\(row.flow)",
            "ms": "\(Int((((row.finishedAt ?? 0) - (row.startedAt ?? 0)) * 1000).rounded()))",
        ])
        announceFinished(row, steps: steps)
        if active.isEmpty && queues.isEmpty {
            RunExecutor.releaseFreeMemory()  // idle again: give back what the runs used
        }
        await startQueued()
        fireEvents(after: row)
    }

    private func announceFinished(_ row: RunRow, steps: [StepRecord]) {
        var params = JSONValue(summary: row.summary)
        if case .object(var members) = params, let error = JSONValue(text: row.error) {
            members["error"] = error
            params = .object(members)
        }
        hub.publish(DaemonEvent(method: "run.finished", runID: row.id, flow: row.flow, params: params))
        completions.removeValue(forKey: row.id)?.resolve(FinishedRun(row: row, steps: steps))
    }

    // MARK: - Event triggers (SPEC §2 `on`)

    /// Starts the flows whose `on` matches how `row` ended, with its summary as `ctx.event`.
    /// A run never triggers its own flow, and runs started by an event trigger no further
    /// events, so a failing notifier cannot loop.
    private func fireEvents(after row: RunRow) {
        guard row.trigger != "event", accepting else { return }
        let name: String
        switch row.status {
        case .succeeded: name = "run.succeeded"
        case .failed, .interrupted: name = "run.failed"
        default: name = ""
        }
        let targets = registry.eventTriggered().filter { flow in
            guard let on = flow.definition.on, flow.definition.name != row.flow else { return false }
            return on.contains("run.finished") || (!name.isEmpty && on.contains(name))
        }
        guard !targets.isEmpty else { return }
        var summary = JSONValue(summary: row.summary)
        if case .object(var members) = summary {
            members["event"] = .string(name.isEmpty ? "run.finished" : name)
            members["error"] = JSONValue(text: row.error) ?? .null
            summary = .object(members)
        }
        for target in targets {
            triggerer.yield(StartRequest(flow: target.definition.name, trigger: "event", event: summary.jsonText))
        }
    }

    private func fireDaemonStarted() {
        let event = JSONValue.object([
            "event": .string("daemon.started"), "pid": .int(Int64(getpid())),
            "started_at": .string(isoTimestamp(Date().timeIntervalSince1970)),
        ]).jsonText
        for flow in registry.eventTriggered() where flow.definition.on?.contains("daemon.started") ?? false {
            triggerer.yield(StartRequest(flow: flow.definition.name, trigger: "event", event: event))
        }
    }

    // MARK: - Scheduled starts

    /// Starts the runs of the schedules due at one instant, as each flow's `overlap` says when
    /// a run of the flow is active: `skip` drops it (the instant still counts as fired), `queue`
    /// waits for the active runs, `allow` starts alongside, `replace` cancels the active and
    /// queued runs first. All are recorded in one transaction, with their watermarks: 10,000
    /// flows due at once are one commit, not 10,000.
    public func startScheduled(_ batch: [ScheduledStart]) async {
        guard accepting else { return }  // stopping: the instants are not recorded, so they stay due
        var requests: [StartRequest] = []
        var skipped: [ScheduleMark] = []
        // Starts of one flow in one batch (catch-ups, several schedule strings) see each other:
        // overlap decides against the runs active before the batch; after the first, the
        // flow's further starts wait for it, oldest first (with `allow` they run alongside).
        // The same instant twice (two schedule strings that coincide) starts one run.
        var taken: [String: Set<String>] = [:]  // flow -> instants started in this batch
        for item in batch {
            var request = item.request
            request.mark = item.mark
            let name = request.flow
            if let at = request.scheduledAt, taken[name]?.contains(at) == true {
                if let mark = item.mark { skipped.append(mark) }
                continue
            }
            let earlier = taken[name] != nil
            let active = running[name, default: 0] + (queues[name]?.count ?? 0)
            if active > 0 && !earlier {
                switch item.overlap {
                case .skip:
                    logger.info("scheduled start skipped: a run of the flow is still active (overlap = skip)", metadata: [
                        "flow": "\(name)", "scheduled_at": "\(request.scheduledAt ?? "")",
                    ])
                    if let mark = item.mark { skipped.append(mark) }
                    continue
                case .queue:
                    request.exclusive = true
                case .allow:
                    break
                case .replace:
                    await replace(name, by: request.scheduledAt)
                    request.exclusive = true  // it waits for the cancelled runs' cleanup, then starts
                }
            } else if earlier && item.overlap != .allow {
                request.exclusive = true
            }
            taken[name, default: []].insert(request.scheduledAt ?? "")
            requests.append(request)
        }
        for mark in skipped {
            do {
                try await store.setMark(mark)
            } catch {
                logger.error("could not record a skipped start", metadata: ["flow": "\(mark.flow)", "error": "\(error)"])
            }
        }
        guard accepting, !requests.isEmpty else { return }
        var admissions: [Admission] = []
        for request in requests {
            do {
                admissions.append(try admit(request))
            } catch {
                logger.error("a scheduled start failed", metadata: ["flow": "\(request.flow)", "error": "\(error.message)"])
            }
        }
        do {
            try await store.insert(admissions.map { ($0.row, $0.mark) })
        } catch {
            for admission in admissions { abandon(admission) }
            logger.error("could not record scheduled runs", metadata: ["count": "\(admissions.count)", "error": "\(error)"])
            return
        }
        for admission in admissions { settle(admission) }
        await startQueued()
    }

    /// Cancels the running and queued runs of `name` for a scheduled start (`overlap = replace`).
    private func replace(_ name: String, by scheduledAt: String?) async {
        let reason = "replaced by the scheduled start of \(scheduledAt ?? "now") (overlap = replace)"
        for (id, run) in active where run.flow == name {
            logger.info("cancelling a run for a scheduled start (overlap = replace)", metadata: ["run": "\(id)", "flow": "\(name)"])
            run.cancellation.cancel(reason: reason)
        }
        for row in queues.removeValue(forKey: name) ?? [] {
            exclusive.remove(row.id)
            await record(row, status: .cancelled, error: #"{"code":"cancelled","message":\#(JSONValue.quoted(reason))}"#)
        }
    }

    // MARK: - Cancelling and waiting

    /// Cancels a queued run (recorded at once) or a running one (its tasks and processes are
    /// cancelled, compensations run); returns the run's status before the request.
    public func cancel(_ id: String) async throws(RPCError) -> RunStatus {
        if let run = active[id] {
            run.cancellation.cancel(reason: "cancelled by request (tide cancel)")
            return .running
        }
        for (flow, queue) in queues {
            if let index = queue.firstIndex(where: { $0.id == id }) {
                let row = queues[flow]!.remove(at: index)
                if queues[flow]?.isEmpty == true { queues[flow] = nil }
                exclusive.remove(row.id)
                await record(row, status: .cancelled, error: #"{"code":"cancelled","message":"cancelled while queued (tide cancel)"}"#)
                return .queued
            }
        }
        let row: RunRow?
        do {
            row = try await store.run(id)
        } catch {
            throw RPCError(tide: "store_failed", "could not read the run history: \(error)")
        }
        guard let row else { throw RPCError(tide: "run_not_found", "no run with id '\(id)'") }
        throw RPCError(tide: "run_finished", "run \(id) already finished (\(row.status.rawValue)): nothing to cancel")
    }

    /// Waits until the run has finished and returns it; nil at once when it is not running or
    /// queued here (it finished earlier: read it from the store).
    public func waitUntilFinished(_ id: String) async -> FinishedRun? {
        guard let completion = completions[id] else { return nil }
        return await completion.wait()
    }

    /// Whether the run is running or queued here.
    public func isLive(_ id: String) -> Bool {
        completions[id] != nil
    }

    /// Running and queued runs, per flow.
    public func counts() -> (running: [String: Int], queued: [String: Int]) {
        (running.filter { $0.value > 0 }, queues.compactMapValues { $0.isEmpty ? nil : $0.count })
    }
}

/// A run id: `run_` and 16 random hex digits.
public func makeRunID() -> String {
    var generator = SystemRandomNumberGenerator()
    let value = generator.next() as UInt64
    let hex = String(value, radix: 16)
    return "run_" + String(repeating: "0", count: 16 - hex.count) + hex
}
