// The daylight-saving rule of SPEC §5, as tables written by hand from each zone's rules:
// a skipped wall time fires once, at the first instant after the gap; a repeated one fires once,
// at its first occurrence.
import Foundation
import Testing

@testable import TideSchedule

@Suite("Daylight saving")
struct DaylightSavingTests {
    /// A schedule in a zone, a start, and the starts that must follow.
    struct Case: Sendable, CustomTestStringConvertible {
        var zone: String
        var schedule: String
        var from: String
        var expected: [String]
        var testDescription: String { "\(zone) '\(schedule)' after \(from)" }
    }

    /// America/New_York 2026: 02:00 EST -> 03:00 EDT on 03-08 (07:00Z); 02:00 EDT -> 01:00 EST on 11-01 (06:00Z).
    static let newYorkCases: [Case] = [
        // Spring forward: 02:30 does not exist on 03-08, so it fires as the clock jumps, at 03:00 EDT.
        Case(zone: "America/New_York", schedule: "30 2 * * *", from: "2026-03-07T00:00:00-05:00",
             expected: ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
        // Four skipped times collapse into one start.
        Case(zone: "America/New_York", schedule: "*/15 2 * * *", from: "2026-03-07T03:00:00-05:00",
             expected: ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00", "2026-03-09T02:15:00-04:00"]),
        // Hourly: 02:00 is skipped and fires at 03:00, which is also 03:00's own start: one start.
        Case(zone: "America/New_York", schedule: "0 * * * *", from: "2026-03-08T00:30:00-05:00",
             expected: ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]),
        Case(zone: "America/New_York", schedule: "0,30 * * * *", from: "2026-03-08T01:15:00-05:00",
             expected: ["2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00"]),
        Case(zone: "America/New_York", schedule: "59 1 * * *", from: "2026-03-07T12:00:00-05:00",
             expected: ["2026-03-08T01:59:00-05:00", "2026-03-09T01:59:00-04:00"]),
        Case(zone: "America/New_York", schedule: "0 3 * * *", from: "2026-03-07T12:00:00-05:00",
             expected: ["2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00"]),
        // Yearly at a skipped time: 2027's change is on 03-14, so 03-08 02:00 exists then.
        Case(zone: "America/New_York", schedule: "0 2 8 3 *", from: "2026-01-01T00:00:00-05:00",
             expected: ["2026-03-08T03:00:00-04:00", "2027-03-08T02:00:00-05:00"]),
        // Six fields: 02:00:30 is skipped too.
        Case(zone: "America/New_York", schedule: "30 0 2 * * *", from: "2026-03-08T00:00:00-05:00",
             expected: ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:30-04:00"]),
        // Fall back: 01:30 happens twice on 11-01 and fires on its first pass (EDT).
        Case(zone: "America/New_York", schedule: "30 1 * * *", from: "2026-10-31T12:00:00-04:00",
             expected: ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
        // Asked from inside the second pass, the repeated times are not fired again.
        Case(zone: "America/New_York", schedule: "30 1 * * *", from: "2026-11-01T01:10:00-05:00",
             expected: ["2026-11-02T01:30:00-05:00"]),
        Case(zone: "America/New_York", schedule: "*/15 * * * *", from: "2026-11-01T01:10:00-05:00",
             expected: ["2026-11-01T02:00:00-05:00", "2026-11-01T02:15:00-05:00"]),
        Case(zone: "America/New_York", schedule: "*/20 1 * * *", from: "2026-11-01T00:00:00-04:00",
             expected: ["2026-11-01T01:00:00-04:00", "2026-11-01T01:20:00-04:00", "2026-11-01T01:40:00-04:00", "2026-11-02T01:00:00-05:00"]),
        // Hourly across the fall back: 01:00 EST repeats 01:00 EDT, so two hours pass to 02:00 EST.
        Case(zone: "America/New_York", schedule: "0 * * * *", from: "2026-11-01T00:30:00-04:00",
             expected: ["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"]),
        Case(zone: "America/New_York", schedule: "* * * * *", from: "2026-11-01T01:58:30-04:00",
             expected: ["2026-11-01T01:59:00-04:00", "2026-11-01T02:00:00-05:00"]),
        Case(zone: "America/New_York", schedule: "0 2 * * *", from: "2026-10-31T12:00:00-04:00",
             expected: ["2026-11-01T02:00:00-05:00", "2026-11-02T02:00:00-05:00"]),
        // The TZ= prefix wins over the default zone.
        Case(zone: "UTC", schedule: "TZ=America/New_York 30 2 * * *", from: "2026-03-08T00:00:00-05:00",
             expected: ["2026-03-08T03:00:00-04:00"]),
    ]

    /// Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on 03-29 (01:00Z); 03:00 CEST -> 02:00 CET on 10-25 (01:00Z).
    static let berlinCases: [Case] = [
        Case(zone: "Europe/Berlin", schedule: "30 2 * * *", from: "2026-03-28T12:00:00+01:00",
             expected: ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"]),
        Case(zone: "Europe/Berlin", schedule: "*/15 2 * * *", from: "2026-03-29T00:00:00+01:00",
             expected: ["2026-03-29T03:00:00+02:00", "2026-03-30T02:00:00+02:00"]),
        Case(zone: "Europe/Berlin", schedule: "0 * * * *", from: "2026-03-29T00:30:00+01:00",
             expected: ["2026-03-29T01:00:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00"]),
        Case(zone: "Europe/Berlin", schedule: "0 9 * * MON-FRI", from: "2026-03-27T10:00:00+01:00",
             expected: ["2026-03-30T09:00:00+02:00"]),
        Case(zone: "Europe/Berlin", schedule: "30 2 * * *", from: "2026-10-24T12:00:00+02:00",
             expected: ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]),
        Case(zone: "Europe/Berlin", schedule: "*/30 2 * * *", from: "2026-10-25T00:00:00+02:00",
             expected: ["2026-10-25T02:00:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:00:00+01:00"]),
        Case(zone: "Europe/Berlin", schedule: "0 * * * *", from: "2026-10-25T01:30:00+02:00",
             expected: ["2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00", "2026-10-25T04:00:00+01:00"]),
        Case(zone: "Europe/Berlin", schedule: "0 3 * * *", from: "2026-10-24T12:00:00+02:00",
             expected: ["2026-10-25T03:00:00+01:00"]),
    ]

    /// Australia/Lord_Howe: +11:00 in summer, +10:30 in winter. 2026-04-05 02:00 -> 01:30 (15:00Z
    /// the day before); 2026-10-04 02:00 -> 02:30 (15:30Z the day before).
    static let lordHoweCases: [Case] = [
        Case(zone: "Australia/Lord_Howe", schedule: "45 1 * * *", from: "2026-04-04T12:00:00+11:00",
             expected: ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]),
        Case(zone: "Australia/Lord_Howe", schedule: "15 1 * * *", from: "2026-04-04T12:00:00+11:00",
             expected: ["2026-04-05T01:15:00+11:00", "2026-04-06T01:15:00+10:30"]),
        // 01:30 and 01:45 repeat for half an hour: 45 minutes pass from 01:45 (+11) to 02:00 (+10:30).
        Case(zone: "Australia/Lord_Howe", schedule: "*/15 * * * *", from: "2026-04-05T01:40:00+11:00",
             expected: ["2026-04-05T01:45:00+11:00", "2026-04-05T02:00:00+10:30", "2026-04-05T02:15:00+10:30"]),
        Case(zone: "Australia/Lord_Howe", schedule: "0 * * * *", from: "2026-04-05T00:30:00+11:00",
             expected: ["2026-04-05T01:00:00+11:00", "2026-04-05T02:00:00+10:30", "2026-04-05T03:00:00+10:30"]),
        Case(zone: "Australia/Lord_Howe", schedule: "15 2 * * *", from: "2026-10-03T12:00:00+10:30",
             expected: ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]),
        Case(zone: "Australia/Lord_Howe", schedule: "*/10 2 * * *", from: "2026-10-04T00:00:00+10:30",
             expected: ["2026-10-04T02:30:00+11:00", "2026-10-04T02:40:00+11:00", "2026-10-04T02:50:00+11:00"]),
        Case(zone: "Australia/Lord_Howe", schedule: "0 * * * *", from: "2026-10-04T01:30:00+10:30",
             expected: ["2026-10-04T02:30:00+11:00", "2026-10-04T03:00:00+11:00"]),
        Case(zone: "Australia/Lord_Howe", schedule: "30 2 * * *", from: "2026-10-03T12:00:00+10:30",
             expected: ["2026-10-04T02:30:00+11:00", "2026-10-05T02:30:00+11:00"]),
    ]

    /// Zones without daylight saving: every day alike.
    static let steadyCases: [Case] = [
        Case(zone: "Asia/Tokyo", schedule: "30 2 * * *", from: "2026-03-07T12:00:00+09:00",
             expected: ["2026-03-08T02:30:00+09:00", "2026-03-09T02:30:00+09:00"]),
        Case(zone: "Asia/Tokyo", schedule: "0 * * * *", from: "2026-11-01T00:30:00+09:00",
             expected: ["2026-11-01T01:00:00+09:00", "2026-11-01T02:00:00+09:00", "2026-11-01T03:00:00+09:00"]),
        Case(zone: "UTC", schedule: "*/15 2 * * *", from: "2026-03-08T01:50:00Z",
             expected: ["2026-03-08T02:00:00+00:00", "2026-03-08T02:15:00+00:00", "2026-03-08T02:30:00+00:00"]),
        // Europe/Moscow's offset changed without daylight saving (2014-10-26 02:00 +04 -> 01:00 +03): same rule.
        Case(zone: "Europe/Moscow", schedule: "30 1 * * *", from: "2014-10-25T12:00:00+04:00",
             expected: ["2014-10-26T01:30:00+04:00", "2014-10-27T01:30:00+03:00"]),
    ]

    @Test(arguments: newYorkCases)
    func newYork(_ test: Case) throws { try check(test) }

    @Test(arguments: berlinCases)
    func berlin(_ test: Case) throws { try check(test) }

    @Test(arguments: lordHoweCases)
    func lordHowe(_ test: Case) throws { try check(test) }

    @Test(arguments: steadyCases)
    func withoutDaylightSaving(_ test: Case) throws { try check(test) }

    func check(_ test: Case) throws {
        let got = try starts(test.schedule, in: test.zone, from: test.from, count: test.expected.count)
        #expect(got == test.expected)
        // The instants themselves, apart from how they are printed.
        #expect(got.map(instant) == test.expected.map(instant))
    }

    /// The precomputed table and Foundation's own answers (used outside 1900-2200) agree.
    @Test(arguments: ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Tokyo", "Europe/Moscow"])
    func tableAgreesWithFoundation(_ name: String) throws {
        let table = ZoneRules.rules(for: zone(name))
        let direct = ZoneRules(zone: zone(name), range: 0..<1)  // an empty table: every answer from Foundation
        let expressions = try ["30 2 * * *", "*/15 * * * *", "0 1-3 * * *", "0 0 * * SUN", "17 */2 1,15 * *"].map(CronExpression.parse)
        for expression in expressions {
            var a: Int64 = 1_262_304_000  // 2010-01-01
            var b = a
            for _ in 0..<2000 {
                a = try #require(expression.next(after: a, rules: table))
                b = try #require(expression.next(after: b, rules: direct))
                #expect(a == b, "\(name): the table and Foundation disagree")
                if a != b { return }
            }
        }
    }

    /// Every start is a real instant after the last, and a wall time never fires twice.
    @Test(arguments: ["America/New_York", "Europe/Berlin", "Australia/Lord_Howe"])
    func startsIncreaseAndWallTimesNeverRepeat(_ name: String) throws {
        let schedule = try Schedule.parse("*/5 * * * *", defaultZone: zone(name))
        let all = schedule.starts(after: instant("2026-01-01T00:00:00Z"), count: 12 * 24 * 366)
        var seen = Set<String>()
        for (previous, next) in zip(all, all.dropFirst()) {
            #expect(next > previous)
        }
        for start in all {
            let wall = String(formatISO8601(start, in: schedule.zone).prefix(19))
            #expect(seen.insert(wall).inserted, "\(wall) fired twice")
        }
    }
}
