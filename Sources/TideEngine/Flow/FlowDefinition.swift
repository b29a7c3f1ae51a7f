// FlowDefinition.swift: one flow{} of a script, as validated by the prelude.
import Foundation
import TideSchedule

/// A flow as a script defines it (SPEC §2); durations in seconds, memory in bytes.
public struct FlowDefinition: Sendable, Codable, Equatable {
    public var name: String
    public var description: String?
    public var schedule: [String]?
    public var timezone: String?
    public var overlap: String?
    public var catchup: String?
    public var catchupWindow: Double?
    public var jitter: Double?
    public var timeout: Double?
    public var maxConcurrent: Int?
    public var on: [String]?
    public var memory: Int?
    /// The line of the `flow{}` call.
    public var line: Int
    public var hasOnFailure: Bool?

    /// A definition with only a name (the rest as the flow left it out).
    public init(name: String, line: Int, description: String? = nil, schedule: [String]? = nil, on: [String]? = nil,
                maxConcurrent: Int? = nil) {
        self.name = name
        self.line = line
        self.description = description
        self.schedule = schedule
        self.on = on
        self.maxConcurrent = maxConcurrent
    }

    enum CodingKeys: String, CodingKey {
        case name, description, schedule, timezone, overlap, catchup, jitter, timeout, on, memory, line
        case catchupWindow = "catchup_window"
        case maxConcurrent = "max_concurrent"
        case hasOnFailure = "has_on_failure"
    }
}

extension FlowDefinition {
    /// The zone of the flow's schedules: its `timezone`, else the daemon's local zone.
    public func scheduleZone() throws(ScheduleError) -> TimeZone {
        guard let timezone else { return TimeZone.current }
        return try parseScheduleZone(timezone)
    }

    /// The flow's schedules, parsed (a `TZ=` prefix overrides the flow's `timezone`).
    public func parsedSchedules() throws(FlowScheduleError) -> [Schedule] {
        let zone: TimeZone
        do {
            zone = try scheduleZone()
        } catch {
            throw FlowScheduleError(field: "timezone", text: timezone ?? "", error: error)
        }
        var schedules: [Schedule] = []
        for text in schedule ?? [] {
            do {
                let parsed = try Schedule.parse(text, defaultZone: zone)
                // a cron expression that can never fire is refused by the parser; an expression
                // whose zone makes it fire never again (none) cannot happen: the calendar repeats
                schedules.append(parsed)
            } catch {
                throw FlowScheduleError(field: "schedule", text: text, error: error)
            }
        }
        return schedules
    }

    /// What a scheduled trigger does while a run is active (SPEC §2; default skip).
    public var overlapPolicy: OverlapPolicy { overlap.flatMap(OverlapPolicy.init(rawValue:)) ?? .skip }
    /// What happens to starts missed while the daemon was down (default none).
    public var catchupPolicy: CatchupPolicy { catchup.flatMap(CatchupPolicy.init(rawValue:)) ?? .none }
    /// How far back missed starts are caught up (default 24 h).
    public var catchupSeconds: Double { catchupWindow ?? 86_400 }
}

/// A flow's `schedule` or `timezone` that does not parse.
public struct FlowScheduleError: Error, CustomStringConvertible {
    public var field: String
    public var text: String
    public var error: ScheduleError
    public var description: String { "field '\(field)' (\"\(text)\"): \(error)" }
}

/// What a scheduled trigger does while a run of the flow is active.
public enum OverlapPolicy: String, Sendable {
    /// The scheduled start is dropped (logged).
    case skip
    /// It waits until the active runs have finished.
    case queue
    /// It runs alongside (within `max_concurrent`).
    case allow
    /// The active runs are cancelled and it starts.
    case replace
}

/// Which starts missed while the daemon was down (or the clock jumped) are made up.
public enum CatchupPolicy: String, Sendable {
    case none, latest, all
}
