// ScheduleService.swift: starts flows at their scheduled instants.
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import TideEngine
import TideSchedule
import TideStore

/// Fires the flows' schedules (SPEC §5): plans with ``SchedulePlanner`` from the watermarks in
/// the store, starts the due runs through the ``RunManager`` (with `overlap`, `jitter`), and
/// sleeps on a ``WakeTimer`` until the next instant, a reload, or a jump of the wall clock.
/// `@reboot` schedules fire once, when the service starts.
public final class ScheduleService: Service {
    private let registry: FlowRegistry
    private let runs: RunManager
    private let store: RunStore
    private let logger: Logger
    private let now: @Sendable () -> Date
    private let timer: WakeTimer

    /// Creates the service; `now` is the wall clock (injectable for tests).
    public init(registry: FlowRegistry, runs: RunManager, store: RunStore, logger: Logger,
                now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.registry = registry
        self.runs = runs
        self.store = store
        self.logger = logger
        self.now = now
        self.timer = try WakeTimer()
        registry.onChange { [timer] in timer.poke() }
    }

    /// The schedules of the flows loaded now (flows whose schedule fails to parse are load
    /// errors, so they never get here).
    static func entries(of flows: [LoadedFlow]) -> [ScheduleEntry] {
        var entries: [ScheduleEntry] = []
        for flow in flows {
            let d = flow.definition
            guard let schedules = try? d.parsedSchedules() else { continue }
            for schedule in schedules {
                entries.append(ScheduleEntry(
                    flow: d.name, schedule: schedule, catchup: d.catchupPolicy, catchupWindow: d.catchupSeconds,
                    overlap: d.overlapPolicy, jitter: d.jitter ?? 0))
            }
        }
        return entries
    }

    public func run() async throws {
        defer { timer.shutdown() }
        var marks: [ScheduleKey: Date] = [:]
        do {
            for mark in try await store.marks() {
                marks[ScheduleKey(flow: mark.flow, schedule: mark.schedule)] = Date(timeIntervalSince1970: mark.firedAt)
            }
        } catch {
            logger.error("cannot read the schedule watermarks; schedules start from now", metadata: ["error": "\(error)"])
        }
        await withDiscardingTaskGroup { group in
            // @reboot: once per daemon start
            for entry in Self.entries(of: registry.snapshot().flows) where entry.schedule.kind == .reboot {
                let instant = now()
                group.addTask { await self.fire(entry, Firing(instant: instant, catchup: false)) }
            }
            await withGracefulShutdownHandler {
                await plan(&marks, group: &group)
            } onGracefulShutdown: { [timer] in
                timer.shutdown()
            }
            group.cancelAll()  // starts waiting out their jitter are dropped; the instants stay due
        }
    }

    /// Plans, fires what is due, and sleeps until the next instant; until shutdown.
    private func plan(_ marks: inout [ScheduleKey: Date], group: inout DiscardingTaskGroup) async {
        var entries: [ScheduleEntry] = []
        var nextDue: [Date?] = []
        var stale = true
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            if stale {
                entries = Self.entries(of: registry.snapshot().flows).filter { $0.schedule.kind != .reboot }
                let live = Set(entries.map(\.key))
                // schedules that went away take their watermarks with them: a flow added back
                // later, or a schedule edited back, counts from then
                let gone = marks.keys.filter { !live.contains($0) }
                    .map { ScheduleMark(flow: $0.flow, schedule: $0.schedule, firedAt: 0) }
                if !gone.isEmpty {
                    for mark in gone { marks[ScheduleKey(flow: mark.flow, schedule: mark.schedule)] = nil }
                    group.addTask { [store] in try? await store.forget(marks: gone) }
                }
                let start = now()
                for entry in entries where marks[entry.key] == nil {
                    // a new schedule counts from now: nothing before it was ever due
                    marks[entry.key] = start
                    let mark = ScheduleMark(flow: entry.flow, schedule: entry.schedule.text, firedAt: start.timeIntervalSince1970)
                    group.addTask { [store] in try? await store.setMark(mark) }
                }
                nextDue = entries.map { SchedulePlanner.nextDue($0, watermark: marks[$0.key]!) }
                stale = false
            }
            let current = now()
            var batch: [ScheduledStart] = []
            var plans = Plans()  // flows that share a schedule share its arithmetic
            for (i, entry) in entries.enumerated() {
                guard let due = nextDue[i], due <= current else { continue }
                let watermark = marks[entry.key]!
                let (firings, moved) = plans.due(entry, watermark: watermark, now: current)
                marks[entry.key] = moved
                nextDue[i] = plans.nextDue(entry, watermark: moved)
                if firings.isEmpty {
                    if moved > watermark {
                        logger.info("missed starts not made up (catchup = \(entry.catchup.rawValue))", metadata: [
                            "flow": "\(entry.flow)", "schedule": "\(entry.schedule.text)",
                        ])
                        let mark = ScheduleMark(flow: entry.flow, schedule: entry.schedule.text, firedAt: moved.timeIntervalSince1970)
                        group.addTask { [store] in try? await store.setMark(mark) }
                    }
                    continue
                }
                for firing in firings {
                    if entry.jitter > 0 {
                        group.addTask { await self.fire(entry, firing) }
                    } else {
                        batch.append(plans.start(entry, firing))
                    }
                }
            }
            if !batch.isEmpty {
                let starts = batch
                batch.removeAll()
                group.addTask { await self.runs.startScheduled(starts) }
            }
            timer.arm(nextDue.compactMap { $0 }.min())
            switch await timer.wait() {
            case .due:
                break
            case .clockChanged:
                logger.info("the wall clock changed: planning again")
                stale = true  // watermarks keep an instant from firing twice
            case .poked:
                stale = true  // a reload, or shutdown
            }
        }
    }

    /// Starts one scheduled run, after its jitter.
    private func fire(_ entry: ScheduleEntry, _ firing: Firing) async {
        if entry.jitter > 0 {
            let delay = Double.random(in: 0..<entry.jitter)
            do {
                try await Task.sleep(for: .seconds(delay))
            } catch {
                return  // stopping: the instant was not recorded, so it is still due at the next start
            }
        }
        var plans = Plans()
        await runs.startScheduled([plans.start(entry, firing)])
    }
}

/// One look's planning, remembered per schedule: many flows on `* * * * *` cost one
/// computation of what is due, one next instant and one timestamp text.
private struct Plans {
    private struct Key: Hashable {
        var schedule: Schedule
        var catchup: CatchupPolicy
        var window: Double
        var watermark: Date
    }

    private var due: [Key: (firings: [Firing], watermark: Date)] = [:]
    private var next: [Key: Date?] = [:]
    private var texts: [Date: String] = [:]

    mutating func due(_ entry: ScheduleEntry, watermark: Date, now: Date) -> (firings: [Firing], watermark: Date) {
        let key = Key(schedule: entry.schedule, catchup: entry.catchup, window: entry.catchupWindow, watermark: watermark)
        if let known = due[key] { return known }
        let plan = SchedulePlanner.due(entry, watermark: watermark, now: now)
        due[key] = plan
        return plan
    }

    mutating func nextDue(_ entry: ScheduleEntry, watermark: Date) -> Date? {
        let key = Key(schedule: entry.schedule, catchup: .none, window: 0, watermark: watermark)
        if let known = next[key] { return known }
        let instant = SchedulePlanner.nextDue(entry, watermark: watermark)
        next[key] = instant
        return instant
    }

    mutating func start(_ entry: ScheduleEntry, _ firing: Firing) -> ScheduledStart {
        let mark = entry.schedule.kind == .reboot
            ? nil : ScheduleMark(flow: entry.flow, schedule: entry.schedule.text, firedAt: firing.instant.timeIntervalSince1970)
        let text: String
        if let known = texts[firing.instant], entry.schedule.zone == TimeZone.current {
            text = known
        } else {
            text = formatISO8601(firing.instant, in: entry.schedule.zone)
            if entry.schedule.zone == TimeZone.current { texts[firing.instant] = text }
        }
        let request = StartRequest(flow: entry.flow, trigger: firing.catchup ? "catchup" : "schedule", scheduledAt: text)
        return ScheduledStart(request: request, overlap: entry.overlap, mark: mark)
    }
}
