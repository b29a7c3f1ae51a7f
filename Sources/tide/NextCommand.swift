// NextCommand.swift: `tide next EXPR`: the next start instants of a schedule, computed locally.
import ArgumentParser
import Foundation
import TideSchedule

struct NextCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "Print the next start instants of a schedule expression (no daemon needed).",
        discussion: """
            EXPR is a schedule as a flow's `schedule` takes it: a cron expression (5 fields, or 6 with a \
            leading seconds field), a macro (@daily, @hourly, ...), @every <duration> or @reboot, with an \
            optional TZ=Zone prefix. Quote it: tide next '0 9 * * MON-FRI' --tz Europe/Berlin.
            The zone of the schedule is its TZ= prefix if it has one, else --tz, else the local zone. \
            Starts are printed in that zone, one ISO 8601 timestamp with offset per line.
            See docs/schedules.md.
            """)

    @Argument(help: "The schedule expression (quoted).")
    var expression: String

    @Option(name: .long, help: "How many starts to print (default 5).")
    var count: Int = 5

    @Option(name: .long, help: "Start after this instant, ISO 8601 (default now); without an offset it is a wall time in the schedule's zone.")
    var from: String?

    @Option(name: .long, help: "The zone of a schedule without a TZ= prefix, an IANA name such as Europe/Berlin (default: the local zone).")
    var tz: String?

    @Flag(name: .long, help: #"Print {"expr", "timezone", "starts": [...]} instead of lines."#)
    var json = false

    /// The most starts one call prints.
    static let maximumCount = 1_000_000

    func validate() throws {
        guard (1...Self.maximumCount).contains(count) else {
            throw ValidationError("--count must be between 1 and \(Self.maximumCount), got \(count)")
        }
        _ = try schedule()
        _ = try start(in: TimeZone.gmt)
    }

    /// The parsed schedule; a bad expression or zone is a usage error naming the field and the reason.
    func schedule() throws -> Schedule {
        do throws(ScheduleError) {
            let zone = try tz.map(parseScheduleZone) ?? TimeZone.current
            return try Schedule.parse(expression, defaultZone: zone)
        } catch {
            let what = error.field == "zone" && tz != nil && !expression.contains("TZ=") ? "--tz" : "schedule '\(expression)'"
            throw ValidationError("invalid \(what): \(error.description)")
        }
    }

    /// The instant to start after: --from (in `zone` when it has no offset), else now.
    func start(in zone: TimeZone) throws -> Date {
        guard let from else { return Date() }
        guard let date = parseISO8601(from, defaultZone: zone) else {
            throw ValidationError("--from must be an ISO 8601 time such as 2026-03-08T09:00:00+01:00, 2026-03-08T08:00:00Z or 2026-03-08T09:00; got '\(from)'")
        }
        return date
    }

    func run() throws {
        let schedule = try schedule()
        let starts = schedule.starts(after: try start(in: schedule.zone), count: count).map { formatISO8601($0, in: schedule.zone) }
        if json {
            let object: [String: Any] = ["expr": schedule.text, "timezone": schedule.zone.identifier, "starts": starts]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if schedule.kind == .reboot {
            print("@reboot has no start times: it fires once, each time the daemon starts")
            return
        }
        var output = starts.joined(separator: "\n")
        output.append("\n")
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}
