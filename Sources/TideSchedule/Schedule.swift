// Schedule.swift: one schedule string of a flow: a cron expression, @every or @reboot, in a zone.
import Foundation

/// One schedule string as a flow's `schedule` gives it: an optional `TZ=Zone ` prefix, then a
/// cron expression, a cron macro, `@every <duration>` or `@reboot`.
public struct Schedule: Sendable, Hashable {
    /// What kind of schedule this is.
    public enum Kind: Sendable, Hashable {
        /// Fires when the wall clock in the schedule's zone matches the expression.
        case cron(CronExpression)
        /// Fires at every multiple of `seconds` since 1970-01-01T00:00:00Z (stateless, zone-independent).
        case every(seconds: Double)
        /// Fires once when the daemon starts; never from `next(after:)`.
        case reboot
    }

    /// The schedule as written, without surrounding whitespace.
    public let text: String
    /// The parsed schedule.
    public let kind: Kind
    /// The zone whose wall clock a cron schedule follows (from `TZ=`, else the default zone).
    public let zone: TimeZone

    /// Creates a schedule from parts already parsed.
    public init(text: String, kind: Kind, zone: TimeZone) {
        self.text = text
        self.kind = kind
        self.zone = zone
    }

    /// Parses one schedule string: "TZ=Zone " prefix optional, overriding `defaultZone`.
    /// (`CRON_TZ=Zone`, cronie's spelling, is accepted too.)
    public static func parse(_ text: String, defaultZone: TimeZone) throws(ScheduleError) -> Schedule {
        try checkCharacters(text)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var rest = Substring(trimmed)
        var zone = defaultZone
        for prefix in ["TZ=", "CRON_TZ="] where rest.hasPrefix(prefix) {
            let name = rest.dropFirst(prefix.count).prefix(while: { !$0.isWhitespace })
            guard !name.isEmpty else {
                throw ScheduleError(field: "zone", message: "\(prefix) needs a zone name, like \(prefix)Europe/Berlin 0 3 * * *")
            }
            zone = try parseScheduleZone(String(name))
            rest = rest.dropFirst(prefix.count + name.count).drop(while: { $0.isWhitespace })
            break
        }
        let words = rest.split(whereSeparator: { $0.isWhitespace })
        switch words.first?.lowercased() {
        case "@every":
            let duration = words.dropFirst().joined()
            guard !duration.isEmpty else {
                throw ScheduleError(field: "@every", message: "@every needs a duration, like @every 15m or @every 1h30m")
            }
            guard words.count == 2 else {
                throw ScheduleError(field: "@every", message: "write the duration of @every without spaces, like 1h30m (got '\(words.dropFirst().joined(separator: " "))')")
            }
            let seconds = try parseEveryDuration(String(duration))
            return Schedule(text: trimmed, kind: .every(seconds: seconds), zone: zone)
        case "@reboot":
            guard words.count == 1 else {
                throw ScheduleError(field: nil, message: "@reboot takes nothing after it, but '\(words.dropFirst().joined(separator: " "))' follows it")
            }
            return Schedule(text: trimmed, kind: .reboot, zone: zone)
        default:
            return Schedule(text: trimmed, kind: .cron(try CronExpression.parse(String(rest))), zone: zone)
        }
    }

    /// Refuses what no cron reads: anything but printable ASCII, spaces, tabs and newlines. A
    /// no-break space pasted from a web page looks like a space; Foundation's white space
    /// includes it, cron's does not, so it is named rather than taken as a separator.
    static func checkCharacters(_ text: String) throws(ScheduleError) {
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            let value = scalar.value
            if (value >= 0x20 && value < 0x7F) || value == 0x09 || value == 0x0A || value == 0x0D { continue }
            let hex = String(value, radix: 16, uppercase: true)
            let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
            let name = (scalar.properties.name ?? scalar.properties.nameAlias).map { " (\($0))" } ?? ""
            let kind = scalar.properties.isWhitespace ? "a space that is not an ASCII space" :
                scalar.properties.generalCategory == .control ? "a control character" : "a character that is not ASCII"
            throw ScheduleError(
                field: nil,
                message: "the schedule has \(kind) at character \(offset + 1): \(code)\(name); write it with plain spaces and ASCII characters")
        }
    }

    /// The first start strictly after `after`; nil for `@reboot` (the daemon fires it once at start).
    public func next(after: Date) -> Date? {
        switch kind {
        case .cron(let expression):
            return expression.next(after: after, in: zone)
        case .every(let interval):
            let time = after.timeIntervalSince1970
            guard time.isFinite else { return nil }
            var multiple = (time / interval).rounded(.down) + 1
            if multiple * interval <= time { multiple += 1 }
            if (multiple - 1) * interval > time { multiple -= 1 }
            // A Date holds seconds since 2001, so a multiple just after `time` can round back to
            // `after` itself (@every 5020ms from 1970: its third start was its second again).
            for _ in 0..<4 {
                let start = Date(timeIntervalSince1970: multiple * interval)
                if start > after { return start }
                multiple += 1
            }
            return nil  // so far from 1970 that one interval is below a Date's precision
        case .reboot:
            return nil
        }
    }

    /// The next `count` starts after `after`, ascending (empty for `@reboot`).
    public func starts(after: Date, count: Int) -> [Date] {
        var starts: [Date] = []
        starts.reserveCapacity(max(0, min(count, 100_000)))
        var cursor = after
        while starts.count < count, let next = next(after: cursor) {
            starts.append(next)
            cursor = next
        }
        return starts
    }
}

/// Parses the duration of `@every`: `90s`, `15m`, `1h30m`, `2d`, `1500ms`, or a number of seconds.
/// It must be at least one second.
func parseEveryDuration(_ text: String) throws(ScheduleError) -> Double {
    func fail(_ reason: String) -> ScheduleError {
        ScheduleError(field: "@every", message: "'\(text)' \(reason); write a duration like 90s, 15m, 1h30m or 2d")
    }
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
    var total = 0.0
    var rest = Substring(text.lowercased())
    if let plain = Double(rest), rest.allSatisfy({ $0.isNumber || $0 == "." }) {
        total = plain
        rest = ""
    }
    while !rest.isEmpty {
        let number = rest.prefix(while: { ($0.isASCII && $0.isNumber) || $0 == "." })
        guard !number.isEmpty, let value = Double(number) else { throw fail("is not a duration") }
        rest = rest.dropFirst(number.count)
        guard let (unit, scale) = units.first(where: { rest.hasPrefix($0.0) }) else {  // "ms" is tried before "m"
            throw fail(rest.isEmpty ? "lacks a unit after \(number)" : "has an unknown unit at '\(rest)'")
        }
        rest = rest.dropFirst(unit.count)
        total += value * scale
    }
    guard total.isFinite, total <= 100 * 365 * 86_400 else { throw fail("is too long (at most 100 years)") }
    guard total >= 1 else {
        throw ScheduleError(field: "@every", message: "'\(text)' is shorter than one second; @every needs at least 1s")
    }
    return total
}

/// The zone named `name`, an IANA identifier such as `Europe/Berlin` or `UTC`, through Foundation.
public func parseScheduleZone(_ name: String) throws(ScheduleError) -> TimeZone {
    guard let zone = TimeZone(identifier: name) else {
        throw ScheduleError(
            field: "zone",
            message: "unknown time zone '\(name)'; use an IANA name such as Europe/Berlin, America/New_York or UTC")
    }
    return zone
}
