// Schedule strings: the TZ= prefix, @every anchored to the epoch, @reboot, and their errors.
import Foundation
import Testing

@testable import TideSchedule

@Suite("Schedules")
struct ScheduleTests {
    @Test func zonePrefixOverridesTheDefault() throws {
        let schedule = try Schedule.parse("TZ=America/New_York 0 9 * * MON-FRI", defaultZone: zone("UTC"))
        #expect(schedule.zone.identifier == "America/New_York")
        #expect(schedule.text == "TZ=America/New_York 0 9 * * MON-FRI")
        #expect(schedule.kind == .cron(try CronExpression.parse("0 9 * * 1-5")))
        let plain = try Schedule.parse("  0 9 * * MON-FRI ", defaultZone: zone("Europe/Berlin"))
        #expect(plain.zone.identifier == "Europe/Berlin")
        #expect(plain.text == "0 9 * * MON-FRI")
        let cronie = try Schedule.parse("CRON_TZ=Asia/Tokyo @daily", defaultZone: zone("UTC"))
        #expect(cronie.zone.identifier == "Asia/Tokyo")
    }

    @Test(arguments: [
        ("@every 90s", 90.0), ("@every 15m", 900), ("@every 1h30m", 5400), ("@every 2d", 172_800),
        ("@every 1500ms", 1.5), ("@every 1s", 1), ("@every 45", 45), ("@EVERY 1H", 3600), ("@every 1.5h", 5400),
    ])
    func everyDurations(_ text: String, _ seconds: Double) throws {
        #expect(try Schedule.parse(text, defaultZone: zone("UTC")).kind == .every(seconds: seconds))
    }

    /// @every is stateless: the starts are the multiples of the interval since the Unix epoch.
    @Test func everyIsAnchoredToTheEpoch() throws {
        let schedule = try Schedule.parse("@every 90s", defaultZone: zone("America/New_York"))
        // 1_700_000_000 = 18_888_888 * 90 + 80.
        let from = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(schedule.starts(after: from, count: 3).map(\.timeIntervalSince1970) == [1_700_000_010, 1_700_000_100, 1_700_000_190])
        // Strictly after: from a start itself, the next one.
        #expect(schedule.next(after: Date(timeIntervalSince1970: 1_700_000_010))?.timeIntervalSince1970 == 1_700_000_100)
        let daily = try Schedule.parse("@every 1d", defaultZone: zone("Asia/Tokyo"))
        #expect(daily.next(after: instant("2026-05-04T10:00:00Z")) == instant("2026-05-05T00:00:00Z"))
        let fractional = try Schedule.parse("@every 1500ms", defaultZone: zone("UTC"))
        #expect(fractional.starts(after: Date(timeIntervalSince1970: 1), count: 2).map(\.timeIntervalSince1970) == [1.5, 3])
    }

    /// Found by `make fuzz` (CronFuzz): a Date holds seconds since 2001, so a multiple computed
    /// from a start's seconds since 1970 rounded back to that start: starts repeated.
    @Test(arguments: ["@every 5020ms", "@every 1.1s", "@every 3.3", "@every 1h0.7s"])
    func everyFractionalStartsAreStrictlyAfter(_ text: String) throws {
        let schedule = try Schedule.parse(text, defaultZone: zone("UTC"))
        for origin in [0, 1_700_000_000.3, -86_400.9] {
            let starts = schedule.starts(after: Date(timeIntervalSince1970: origin), count: 500)
            #expect(starts.count == 500)
            let repeated = zip(starts, starts.dropFirst()).first { $1 <= $0 }
            #expect(repeated == nil, "\(text) from \(origin): \(repeated.map { "\($0.0.timeIntervalSince1970) then \($0.1.timeIntervalSince1970)" } ?? "")")
        }
    }

    @Test func rebootHasNoNextStart() throws {
        let schedule = try Schedule.parse("@reboot", defaultZone: zone("UTC"))
        #expect(schedule.kind == .reboot)
        #expect(schedule.next(after: Date()) == nil)
        #expect(schedule.starts(after: Date(), count: 5).isEmpty)
    }

    @Test func startsCountsAndOrder() throws {
        let schedule = try Schedule.parse("0 0 * * *", defaultZone: zone("UTC"))
        #expect(schedule.starts(after: Date(), count: 0).isEmpty)
        #expect(schedule.starts(after: Date(), count: -1).isEmpty)
        let ten = schedule.starts(after: instant("2026-01-01T00:00:00Z"), count: 10)
        #expect(ten.count == 10 && ten.first == instant("2026-01-02T00:00:00Z") && ten.last == instant("2026-01-11T00:00:00Z"))
    }

    @Test(arguments: [
        ("TZ=Mars/Olympus 0 9 * * *", "zone", "Mars/Olympus"),
        ("TZ= 0 9 * * *", "zone", "TZ="),
        ("TZ=Europe/Berlin", nil, "empty"),
        ("@every 500ms", "@every", "one second"),
        ("@every 0s", "@every", "one second"),
        ("@every", "@every", "needs a duration"),
        ("@every soon", "@every", "soon"),
        ("@every 5x", "@every", "unknown unit"),
        ("@every 1h 30m", "@every", "without spaces"),
        ("@every -5m", "@every", "-5m"),
        ("@reboot now", nil, "@reboot"),
        ("@sometimes", nil, "unknown macro"),
        ("61 * * * *", "minute", "61"),
        // a no-break space pasted from a web page, at the end and between fields; cron rejects both
        ("0 0 * * *\u{00A0}", nil, "U+00A0 (NO-BREAK SPACE)"),
        ("0\u{00A0}0 * * *", nil, "at character 2: U+00A0"),
        ("0 0 * * *\u{2003}", nil, "U+2003 (EM SPACE)"),
        ("0 0 * * *\u{200B}", nil, "U+200B (ZERO WIDTH SPACE)"),
        ("0 0 * * \u{FF11}", nil, "U+FF11 (FULLWIDTH DIGIT ONE)"),
        ("@every 5m\u{00A0}", nil, "U+00A0"),
        ("0 0 * * *\u{1B}[31m", nil, "a control character at character 10: U+001B"),
    ] as [(String, String?, String)])
    func rejects(_ text: String, _ field: String?, _ mention: String) {
        #expect {
            _ = try Schedule.parse(text, defaultZone: zone("UTC"))
        } throws: { error in
            guard let error = error as? ScheduleError else { return false }
            return error.field == field && error.description.contains(mention)
        }
    }

    @Test func zoneNames() throws {
        #expect(try parseScheduleZone("Europe/Berlin").identifier == "Europe/Berlin")
        #expect(try parseScheduleZone("UTC").secondsFromGMT() == 0)
        #expect(throws: ScheduleError.self) { try parseScheduleZone("Mars/Olympus") }
        #expect(throws: ScheduleError.self) { try parseScheduleZone("") }
    }
}
