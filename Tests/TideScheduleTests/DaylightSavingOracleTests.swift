// The daylight-saving rule checked against a brute-force oracle, right at the transitions
// (where the comparison with croniter stops): every minute is walked with Foundation's own
// offsets and calendar, and the rule of SPEC §5 is applied literally.
import Foundation
import Testing

@testable import TideSchedule

@Suite("Daylight saving, brute-force oracle")
struct DaylightSavingOracleTests {
    /// The rule, minute by minute: at a forward jump, fire once if any skipped wall time matches;
    /// otherwise fire at an instant whose wall time matches unless that wall time already occurred.
    struct Oracle {
        let expression: CronExpression
        let zone: TimeZone
        let walls: Calendar = {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(secondsFromGMT: 0)!
            return calendar
        }()

        func offset(_ instant: Int64) -> Int64 { Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))) }

        func matches(wall: Int64) -> Bool {
            let c = walls.dateComponents([.month, .day, .hour, .minute, .weekday], from: Date(timeIntervalSince1970: Double(wall)))
            let dayOfMonth = expression.daysOfMonth & (1 << UInt32(c.day!)) != 0
            let dayOfWeek = expression.daysOfWeek & (1 << UInt8(c.weekday! - 1)) != 0
            return expression.minutes & (1 << UInt64(c.minute!)) != 0 && expression.hours & (1 << UInt32(c.hour!)) != 0
                && expression.months & (1 << UInt16(c.month!)) != 0
                && (expression.daysMatchEither ? dayOfMonth || dayOfWeek : dayOfMonth && dayOfWeek)
        }

        /// True when the wall time shown at `instant` was already shown at an earlier instant.
        func isRepeat(_ instant: Int64) -> Bool {
            let wall = instant + offset(instant)
            let nearby = Set(stride(from: instant, through: instant - 4 * 3600, by: -900).map(offset))
            return nearby.contains { other in other > offset(instant) && offset(wall - other) == other && wall - other < instant }
        }

        func next(after time: Int64) -> Int64? {
            var instant = (time / 60 + 1) * 60
            while instant < time + 4 * 86_400 {
                let before = offset(instant - 1)
                let after = offset(instant)
                if after > before && stride(from: instant + before, to: instant + after, by: 60).contains(where: matches) {
                    return instant
                }
                if matches(wall: instant + after) && !isRepeat(instant) { return instant }
                instant += 60
            }
            return nil
        }
    }

    static let zones = ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "America/Santiago", "Pacific/Chatham", "America/Havana"]

    /// Random daily expressions around the hours where clocks change, from starts up to a day and
    /// a half before each transition of 2024-2027 or within three hours of it, five starts each.
    @Test(arguments: zones)
    func agreesAtTransitions(_ name: String) async throws {
        // minutes of brute force: on a thread of its own, not on the few threads of the test
        // runner's cooperative pool, where it would stall every other test's tasks
        let (failures, checked, transitions) = try await offPool { try Self.walk(name) }
        #expect(transitions >= 6, "\(name) has no daylight saving in 2024-2027")
        #expect(failures.isEmpty, "\(failures.count) disagreements; the first:\n\(failures.prefix(10).joined(separator: "\n"))")
        #expect(checked >= transitions * 12 * 4)
    }

    static func walk(_ name: String) throws -> (failures: [String], checked: Int, transitions: Int) {
        var failures: [String] = []
        let zone = zone(name)
        var generator = SplitMix64(seed: UInt64(name.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        let minutes = ["*", "*/15", "0", "30", "0,30", "45", "*/7", "59", "10-20"]
        let hours = ["*", "0", "1", "2", "3", "0-3", "1,2", "*/2", "23", "22-23", "2-4"]
        var transitions: [Int64] = []
        var cursor = instant("2024-01-01T00:00:00Z")
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor), next < instant("2028-01-01T00:00:00Z") {
            transitions.append(Int64(next.timeIntervalSince1970))
            cursor = next
        }
        var checked = 0
        for transition in transitions {
            for _ in 0..<12 {
                let text = "\(minutes.randomElement(using: &generator)!) \(hours.randomElement(using: &generator)!) * * *"
                let expression = try CronExpression.parse(text)
                let oracle = Oracle(expression: expression, zone: zone)
                // Half the starts lie within three hours of the change (inside a repeated hour too).
                var from = Bool.random(using: &generator)
                    ? transition - Int64.random(in: 0...(36 * 3600), using: &generator)
                    : transition + Int64.random(in: (-3 * 3600)...(3 * 3600), using: &generator)
                for _ in 0..<5 {
                    let expected = oracle.next(after: from)
                    let got = expression.next(after: Date(timeIntervalSince1970: Double(from)), in: zone).map { Int64($0.timeIntervalSince1970) }
                    let show = { (t: Int64?) in t.map { formatISO8601(Date(timeIntervalSince1970: Double($0)), in: zone) } ?? "none" }
                    if got != expected { failures.append("'\(text)' in \(name) after \(show(from)): tide \(show(got)), oracle \(show(expected))") }
                    guard let expected, got == expected else { break }
                    checked += 1
                    from = expected
                }
            }
        }
        return (failures, checked, transitions.count)
    }
}

/// A small seeded generator, so that a failure can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
