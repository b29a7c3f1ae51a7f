// RunDriver.swift: one run on its thread: load, run phase, cleanup phase, outcome.
import Foundation
import LuaBridge
import TideProtocol

/// Drives one run on the calling thread (a dedicated thread, see ``RunExecutor``).
final class RunDriver {
    let request: RunRequest
    let limits: EngineLimits
    let observer: RunObserver
    let mailbox: Mailbox
    let launcher: AsyncLauncher
    let clock: EngineClock
    /// Jump the clock to the next deadline instead of waiting (tests, with a ManualClock).
    let virtualTime: Bool
    private var cancelReason: String?
    /// In cleanup: how many cancels in all stop it (nil during the run itself).
    private var cleanupStopsAt: Int?

    init(request: RunRequest, limits: EngineLimits, observer: RunObserver, mailbox: Mailbox, launcher: AsyncLauncher,
         clock: EngineClock, virtualTime: Bool) {
        self.request = request
        self.limits = limits
        self.observer = observer
        self.mailbox = mailbox
        self.launcher = launcher
        self.clock = clock
        self.virtualTime = virtualTime
    }

    func run() -> RunOutcome {
        let startedAt = clock.wallNow()
        var outcome = RunOutcome(
            runID: request.runID, flow: request.flow ?? request.script.baseName, status: .failed, result: nil, error: nil,
            compensationErrors: nil, steps: [], startedAt: startedAt, finishedAt: startedAt)
        func failed(_ code: String, _ message: String) -> RunOutcome {
            outcome.error = #"{"code":\#(jsonString(code)),"message":\#(jsonString(message))}"#
            outcome.finishedAt = clock.wallNow()
            return outcome
        }
        let scheduler: Scheduler
        let definitions: [FlowDefinition]
        do {
            scheduler = try Scheduler(memoryLimit: limits.memory, clock: clock, observer: observer)
            scheduler.launcher = launcher
            scheduler.http = HTTPRequester(mailbox: mailbox)
            scheduler.captureLimit = limits.captureLimit
            definitions = try scheduler.load(
                request.script, plugins: request.plugins, failedPlugins: request.failedPlugins, limits: limits,
                describe: request.definition == nil)
        } catch {
            return failed(error.code == .load ? "load" : "internal", error.message)
        }
        guard let definition = pick(definitions) else {
            let names = definitions.map(\.name).joined(separator: ", ")
            if let flow = request.flow {
                return failed("flow_not_found", "\(request.script.path) has no flow named '\(flow)' (it defines: \(names.isEmpty ? "none" : names))")
            }
            return failed("flow_not_found", definitions.isEmpty
                ? "\(request.script.path) defines no flow (call flow{ name = ..., run = function(ctx) ... end })"
                : "\(request.script.path) defines several flows (\(names)): choose one with --flow")
        }
        outcome.flow = definition.name
        scheduler.keyValues = (request.keyValues ?? MemoryKeyValueStore(), definition.name)
        if let memory = definition.memory { scheduler.vm.memoryLimit = memory }
        let memoryLimit = scheduler.vm.memoryLimit
        Watchdog.shared.register(scheduler.vm.preemption)
        defer {
            mailbox.attach(nil)
            Watchdog.shared.unregister(scheduler.vm.preemption)
        }

        // Phase 1: run(ctx).
        do {
            try scheduler.startTopLevel("__tide_run", argument: runArgument(definition))
        } catch {
            return failed("internal", error.message)
        }
        mailbox.attach(scheduler.vm.preemption)  // after the start: a cancel is for the run's code
        if let timeout = definition.timeout {
            scheduler.setDeadline(clock.now() &+ nanoseconds(timeout), message: "run timed out after \(formatSeconds(timeout))")
        }
        loop(scheduler)
        drain(scheduler)  // a cancel that stopped runaway code may still wait in the mailbox
        var cleanupReason = "failed"
        var cleanupMessage: String?
        // Runaway code where Lua cannot yield is stopped by an error from the hook. A run the
        // hook had to stop timed out (or was cancelled), even if it caught that error and
        // returned: it was past its deadline.
        let stopped = scheduler.vm.preemption.takeStopped()
        if scheduler.outcome != .cancelled {
            if stopped.contains(.deadline) {
                scheduler.markTimedOut()
            } else if stopped.contains(.cancelled) || (cancelReason != nil && !isSuccess(scheduler.outcome)) {
                scheduler.markCancelled()
            }
        }
        switch scheduler.outcome {
        case .returned(let values) where values.first == "succeeded":
            outcome.status = .succeeded
            outcome.result = values.count > 1 ? values[1] : "null"
        case .returned(let values):
            outcome.error = values.count > 1 ? values[1] : nil
        case .failed(let text):
            outcome.error = #"{"message":\#(jsonString(text))}"#
        case .cancelled where scheduler.timedOut:
            cleanupReason = "timeout"
            cleanupMessage = "run timed out after \(formatSeconds(definition.timeout ?? 0))"
            outcome.error = #"{"code":"timeout","message":\#(jsonString(cleanupMessage!))}"#
        case .cancelled, nil:
            outcome.status = .cancelled
            cleanupReason = "cancelled"
            cleanupMessage = "run cancelled" + (cancelReason.map { ": \($0)" } ?? "")
            outcome.error = #"{"code":"cancelled","message":\#(jsonString(cleanupMessage!))}"#
        }
        if JSONValue(text: outcome.error)?["message"]?.string == "not enough memory" {
            outcome.error = #"{"code":"memory","message":\#(jsonString("not enough memory: the run reached its limit of \(memoryLimit >> 20) MiB (set memory = \"1g\" in the flow to allow more)"))}"#
        }

        // Phase 2: compensations and on_failure, when the run did not succeed.
        if outcome.status != .succeeded {
            let window = definition.timeout ?? limits.cleanupTime
            // Cleanup runs through a cancel: a run cancelled in phase 1 stops its cleanup at the
            // next cancel; a run that failed on its own, only at the second one (Ctrl-C twice).
            cleanupStopsAt = mailbox.beginCleanup(extraCancels: outcome.status == .cancelled ? 1 : 2)
            scheduler.resetPhase()
            scheduler.setDeadline(clock.now() &+ nanoseconds(window), message: "cleanup timed out after \(formatSeconds(window))")
            let argument = #"{"reason":\#(jsonString(cleanupReason))\#(cleanupMessage.map { #","message":\#(jsonString($0))"# } ?? "")}"#
            if (try? scheduler.startTopLevel("__tide_cleanup", argument: argument)) != nil {
                loop(scheduler)
                switch scheduler.outcome {
                case .returned(let values) where values.count > 1 && values[1] != "[]":
                    outcome.compensationErrors = values[1]
                case .failed(let text):
                    outcome.compensationErrors = #"[{"step":"cleanup","error":{"message":\#(jsonString(text))}}]"#
                case .cancelled:
                    let why = scheduler.timedOut ? "cleanup timed out after \(formatSeconds(window))" : "cleanup cancelled"
                    outcome.compensationErrors = #"[{"step":"cleanup","error":{"code":"cancelled","message":\#(jsonString(why))}}]"#
                default:
                    break
                }
            }
        }
        scheduler.recorder.cancelOpenNodes()
        outcome.steps = scheduler.recorder.nodes
        outcome.finishedAt = clock.wallNow()
        return outcome
    }

    private func isSuccess(_ outcome: TopLevelOutcome?) -> Bool {
        if case .returned(let values)? = outcome { return values.first == "succeeded" }
        return false
    }

    /// Handles the messages already waiting, without blocking.
    private func drain(_ scheduler: Scheduler) {
        handle(mailbox.take(waitingUntil: 0), scheduler)
    }

    private func handle(_ messages: [RunMessage], _ scheduler: Scheduler) {
        for message in messages {
            switch message {
            case .processFinished(let id, let result):
                launcher.finished(id: id)
                scheduler.processFinished(id: id, result: result)
            case .httpFinished(let id, let outcome):
                scheduler.httpFinished(id: id, outcome: outcome)
            case .cancel(let reason, let count):
                cancelReason = cancelReason ?? reason
                if let stopsAt = cleanupStopsAt, count < stopsAt { continue }  // cleanup goes on
                scheduler.cancelTopLevel()
            }
        }
    }

    private func pick(_ definitions: [FlowDefinition]) -> FlowDefinition? {
        if let known = request.definition { return known }
        if let flow = request.flow { return definitions.first { $0.name == flow } }
        return definitions.count == 1 ? definitions[0] : nil
    }

    private func runArgument(_ definition: FlowDefinition) -> String {
        var fields = [
            #""flow":\#(jsonString(definition.name))"#, #""basename":\#(jsonString(request.script.baseName))"#,
            #""run_id":\#(jsonString(request.runID))"#, #""trigger":\#(jsonString(request.trigger))"#,
        ]
        if let payload = request.payload { fields.append(#""payload":\#(payload)"#) }
        if let at = request.scheduledAt { fields.append(#""scheduled_at":\#(jsonString(at))"#) }
        if let event = request.event { fields.append(#""event":\#(event)"#) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// Runs passes until the phase's top-level task ends: waits for the next timer or a message.
    private func loop(_ scheduler: Scheduler) {
        while scheduler.outcome == nil {
            let messages: [RunMessage]
            if scheduler.hasReadyTasks {
                messages = mailbox.take(waitingUntil: 0)
            } else if virtualTime, scheduler.processes.isEmpty, let deadline = scheduler.nextDeadline(), let manual = clock as? ManualClock {
                manual.advance(to: deadline)
                messages = mailbox.take(waitingUntil: 0)
            } else if virtualTime {
                messages = mailbox.take(waitingUntil: nil)  // a subprocess is pending: its result comes in real time
            } else {
                messages = mailbox.take(waitingUntil: scheduler.nextDeadline())
            }
            handle(messages, scheduler)
            scheduler.runPass()
        }
    }
}

/// "1h", "2m30s", "250ms", "1.5s".
func formatSeconds(_ seconds: Double) -> String {
    if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
    if seconds < 60 {
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.3gs", seconds)
    }
    let whole = Int(min(seconds, 1e12))
    let h = whole / 3600, m = whole % 3600 / 60, s = whole % 60
    return (h > 0 ? "\(h)h" : "") + (m > 0 ? "\(m)m" : "") + (s > 0 ? "\(s)s" : "")
}
