// CronExpression.swift: a parsed cron expression as bitsets, and its next start in a time zone.
import Foundation

/// A cron expression (Vixie cron / cronie syntax, with an optional leading seconds field),
/// stored as one bitset per field so that the next start is found by field arithmetic.
///
/// Matching follows Vixie cron: a day matches when its day-of-month **and** its day-of-week
/// match, except when both fields are restricted (neither starts with `*`); then a day matches
/// when **either** does.
public struct CronExpression: Sendable, Hashable {
    /// Bit n set: second n (just bit 0 in five-field expressions).
    var seconds: UInt64
    /// Bit n set: minute n.
    var minutes: UInt64
    /// Bit n set: hour n.
    var hours: UInt32
    /// Bit n set: day n of the month (bit 0 unused).
    var daysOfMonth: UInt32
    /// Bit n set: month n (bit 0 unused).
    var months: UInt16
    /// Bit n set: weekday n, 0 = Sunday (7 is folded into 0).
    var daysOfWeek: UInt8
    /// True when both day fields are restricted, so that a day matches if either does (Vixie's OR rule).
    var daysMatchEither: Bool

    /// Parses a five-field (`min hour dom month dow`) or six-field (`sec min hour dom month dow`)
    /// expression, or one of the macros `@yearly @annually @monthly @weekly @daily @midnight @hourly`.
    public static func parse(_ text: String) throws(ScheduleError) -> CronExpression {
        try CronParser.parse(text)
    }

    /// The first instant strictly after `after` whose wall time in `zone` matches, or nil if none
    /// within 400 years (only for instants near the end of what `Date` can hold).
    ///
    /// Daylight saving: a matching wall time that does not exist (the clock jumps over it)
    /// fires once, at the first instant after the gap; several skipped times collapse into that
    /// one start. A wall time that occurs twice fires at its first occurrence only.
    public func next(after: Date, in zone: TimeZone) -> Date? {
        let time = after.timeIntervalSince1970
        guard time.isFinite, abs(time) < 1e14 else { return nil }
        return next(after: Int64(time.rounded(.down)), rules: ZoneRules.rules(for: zone))
            .map { Date(timeIntervalSince1970: Double($0)) }
    }

    /// The first instant strictly after the whole second `instant` (see `next(after:in:)`).
    func next(after instant: Int64, rules: ZoneRules) -> Int64? {
        var current = instant
        var offset = Int64(rules.offset(at: current))
        var floorWall = current + offset
        if let newWalls = rules.repeatedWallEnd(at: current) {
            floorWall = max(floorWall, newWalls - 1)  // the rest of the repeated hour fired on its first pass
        }
        guard let wall = nextWall(after: floorWall) else { return nil }
        // Walk the stretches of constant offset until the one that holds `wall`. `wall` stays the
        // answer's wall time: it is beyond every wall time the stretches before it showed.
        while true {
            guard let transition = rules.nextTransition(after: current) else { return wall - offset }
            if wall - offset < transition { return wall - offset }
            let newOffset = Int64(rules.offset(at: transition))
            if newOffset > offset && wall < transition + newOffset {
                return transition  // `wall` is in the gap: fire once, as the clock jumps over it
            }
            // Forward past the gap, or back: then wall >= transition + offset, past the repeated times.
            current = transition
            offset = newOffset
        }
    }

    /// The first matching wall time strictly after `floor` (both in seconds since 1970-01-01T00:00
    /// on the local clock), by field arithmetic on the calendar; nil if none within 400 years.
    func nextWall(after floor: Int64) -> Int64? {
        let start = CivilTime(wallSeconds: floor + 1)
        var year = start.year
        var month = start.month
        var day = start.day
        var hour = start.hour
        var minute = start.minute
        var second = start.second
        let lastYear = year + 400  // every (month, day, weekday) combination recurs within 400 years

        while year <= lastYear {
            if months & (1 << UInt16(month)) == 0 {
                guard let next = Self.firstBit(UInt64(months), from: month) else {
                    year += 1
                    month = 0
                    continue
                }
                month = next
                day = 1
                hour = 0
                minute = 0
                second = 0
            }
            guard let matchingDay = Self.firstBit(UInt64(dayMask(year: year, month: month)), from: day) else {
                month += 1
                if month > 12 {
                    month = 1
                    year += 1
                }
                day = 1
                hour = 0
                minute = 0
                second = 0
                continue
            }
            if matchingDay != day {
                day = matchingDay
                hour = 0
                minute = 0
                second = 0
            }
            guard let matchingHour = Self.firstBit(UInt64(hours), from: hour) else {
                day += 1
                hour = 0
                minute = 0
                second = 0
                continue
            }
            if matchingHour != hour {
                hour = matchingHour
                minute = 0
                second = 0
            }
            guard let matchingMinute = Self.firstBit(minutes, from: minute) else {
                hour += 1
                minute = 0
                second = 0
                continue
            }
            if matchingMinute != minute {
                minute = matchingMinute
                second = 0
            }
            guard let matchingSecond = Self.firstBit(seconds, from: second) else {
                minute += 1
                second = 0
                continue
            }
            return CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: matchingSecond)
                .wallSeconds
        }
        return nil
    }

    /// Bit d set: day d of `month` in `year` matches the day fields.
    @inline(__always)
    func dayMask(year: Int, month: Int) -> UInt32 {
        let length = daysInMonth(year, month)
        let firstWeekday = weekday(ofDays: daysFromCivil(year, month, 1))
        // The weekday set rotated so that bit k means "the weekday of day k + 1", then repeated
        // over five weeks and shifted so that bit d stands for day d.
        let week = UInt64(daysOfWeek)
        let rotated = ((week >> UInt64(firstWeekday)) | (week << UInt64(7 - firstWeekday))) & 0x7F
        let byWeekday = UInt32(truncatingIfNeeded: (rotated | rotated << 7 | rotated << 14 | rotated << 21 | rotated << 28) << 1)
        let matching = daysMatchEither ? (daysOfMonth | byWeekday) : (daysOfMonth & byWeekday)
        let valid: UInt32 = length == 31 ? 0xFFFF_FFFE : ((1 << UInt32(length + 1)) - 2)
        return matching & valid
    }

    /// The lowest set bit of `mask` at position `from` or above.
    @inline(__always)
    static func firstBit(_ mask: UInt64, from: Int) -> Int? {
        guard from < 64 else { return nil }
        let rest = mask >> UInt64(from)
        return rest == 0 ? nil : from + rest.trailingZeroBitCount
    }
}
