// SchedulePlanner.swift: what a schedule fires between its watermark and now. Pure: no clock,
// no I/O; the service passes the instants in.
import Foundation
import TideEngine
import TideSchedule

/// One schedule string of one flow, with the flow's catch-up settings.
public struct ScheduleEntry: Sendable {
    public var flow: String
    public var schedule: Schedule
    public var catchup: CatchupPolicy
    /// Seconds: missed starts older than this are not made up.
    public var catchupWindow: Double
    public var overlap: OverlapPolicy
    /// Seconds of random delay added to each start (0: none).
    public var jitter: Double

    public init(flow: String, schedule: Schedule, catchup: CatchupPolicy = .none, catchupWindow: Double = 86_400,
                overlap: OverlapPolicy = .skip, jitter: Double = 0) {
        self.flow = flow
        self.schedule = schedule
        self.catchup = catchup
        self.catchupWindow = catchupWindow
        self.overlap = overlap
        self.jitter = jitter
    }

    /// Watermarks are kept per flow and schedule string.
    public var key: ScheduleKey { ScheduleKey(flow: flow, schedule: schedule.text) }
}

public struct ScheduleKey: Hashable, Sendable {
    public var flow: String
    public var schedule: String
}

/// A start to make: the instant it is for, and whether it makes up for a missed one.
public struct Firing: Sendable, Equatable {
    public var instant: Date
    /// True for a start missed while the daemon was down or the clock jumped (`ctx.trigger`
    /// is then "catchup").
    public var catchup: Bool
}

/// Decides which instants of a schedule fire.
///
/// The rules (docs/schedules.md):
/// - Every schedule has a watermark: the last instant fired or deliberately passed over. Only
///   instants after it can fire, so no instant fires twice, across restarts too (the watermark
///   is stored with the run it started), and a wall clock that goes back fires nothing until it
///   passes the watermark again.
/// - At most one instant fires "on time" per look: the newest one due, when it is at most
///   `onTimeTolerance` old. A daemon restarted across an instant still fires it.
/// - Older due instants were missed (downtime, a suspend, a clock jumping forward): `catchup`
///   decides. `none` fires none of them, `latest` the newest (only when nothing fired on time),
///   `all` every one within `catchup_window` (at most `catchupLimit`, the newest).
public enum SchedulePlanner {
    /// How late an instant may be and still fire as scheduled (not as a catch-up).
    public static let onTimeTolerance: Double = 60
    /// The most missed starts one look makes up with `catchup = "all"`.
    public static let catchupLimit = 1_000

    /// The starts due for `entry` at `now`, and its new watermark.
    public static func due(_ entry: ScheduleEntry, watermark: Date, now: Date) -> (firings: [Firing], watermark: Date) {
        guard now > watermark else { return ([], watermark) }  // the clock went back: wait until it passes again
        // Instants older than both the window and the tolerance can neither fire nor be made up:
        // start looking after them (a watermark from months ago costs nothing).
        let horizon = now.addingTimeInterval(-max(entry.catchup == .none ? 0 : entry.catchupWindow, onTimeTolerance))
        var cursor = max(watermark, horizon)
        var due: [Date] = []
        var newest: Date?
        while let instant = entry.schedule.next(after: cursor), instant <= now {
            newest = instant
            due.append(instant)
            if due.count > 2 * (catchupLimit + 1) { due.removeFirst(due.count - catchupLimit - 1) }  // keep the newest
            cursor = instant
        }
        guard let newest else {
            // nothing due after the horizon: instants before it were missed (the watermark
            // moves past them), or there were none (it stays)
            if cursor > watermark, let first = entry.schedule.next(after: watermark), first <= cursor {
                return ([], cursor)
            }
            return ([], watermark)
        }
        let onTime = now.timeIntervalSince(newest) <= onTimeTolerance ? newest : nil
        var missed = Array((onTime == nil ? due : Array(due.dropLast())).suffix(catchupLimit))
        missed.removeAll { now.timeIntervalSince($0) > entry.catchupWindow }
        var firings: [Firing] = []
        switch entry.catchup {
        case .none:
            break
        case .latest:
            if onTime == nil, let last = missed.last { firings.append(Firing(instant: last, catchup: true)) }
        case .all:
            firings += missed.map { Firing(instant: $0, catchup: true) }
        }
        if let onTime { firings.append(Firing(instant: onTime, catchup: false)) }
        return (firings, newest)
    }

    /// When `entry` is next due after its watermark (nil: never, as for `@reboot`).
    public static func nextDue(_ entry: ScheduleEntry, watermark: Date) -> Date? {
        entry.schedule.next(after: watermark)
    }
}
