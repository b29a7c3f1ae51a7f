// `tide next`: start instants of a schedule, computed locally by the real binary (SPEC §6).
import Foundation
import Testing

@Suite("tide next")
struct NextCommandTests {
    /// Runs `tide next arguments...` in a scratch folder, with `TZ` set so the local zone is known.
    func next(_ arguments: [String], localZone: String = "UTC") async throws -> TideOutput {
        try await withScratchDirectory { dir in
            try await TideProcess.run(["next"] + arguments, in: dir.url, environment: ["TZ": localZone])
        }
    }

    @Test func printsOneTimestampWithOffsetPerLine() async throws {
        let output = try await next(["30 2 * * *", "--tz", "America/New_York", "--from", "2026-03-07T00:00:00-05:00", "--count", "3"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(output.stdout == "2026-03-07T02:30:00-05:00\n2026-03-08T03:00:00-04:00\n2026-03-09T02:30:00-04:00\n")
    }

    @Test func defaultsToFiveStartsFromNowInTheLocalZone() async throws {
        let before = Date()
        let output = try await next(["*/10 * * * *"], localZone: "Asia/Tokyo")
        #expect(output.status == 0, "stderr: \(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5)
        for line in lines {
            #expect(line.hasSuffix("+09:00"), "\(line) is not in the local zone (TZ=Asia/Tokyo)")
            let date = try #require(ISO8601DateFormatter().date(from: line))
            #expect(date > before && date <= before.addingTimeInterval(3600))
        }
    }

    @Test func zonePrefixWinsOverTZOption() async throws {
        let output = try await next(["TZ=Europe/Berlin 0 9 * * MON-FRI", "--tz", "Asia/Tokyo", "--from", "2026-03-27T12:00:00Z", "--count", "2"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(output.stdout == "2026-03-30T09:00:00+02:00\n2026-03-31T09:00:00+02:00\n")
    }

    @Test func fromWithoutAnOffsetIsAWallTimeInTheSchedulesZone() async throws {
        let output = try await next(["0 * * * *", "--tz", "Australia/Lord_Howe", "--from", "2026-04-05T00:30", "--count", "3"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(output.stdout == "2026-04-05T01:00:00+11:00\n2026-04-05T02:00:00+10:30\n2026-04-05T03:00:00+10:30\n")
    }

    @Test func jsonPrintsExprTimezoneAndStarts() async throws {
        let output = try await next(["@every 90s", "--tz", "UTC", "--from", "2026-01-01T00:00:00Z", "--count", "2", "--json"])
        #expect(output.status == 0, "stderr: \(output.stderr)")
        #expect(try output.json() == .object([
            "expr": .string("@every 90s"), "timezone": .string("GMT"),
            "starts": .array([.string("2026-01-01T00:01:30+00:00"), .string("2026-01-01T00:03:00+00:00")]),
        ]))
    }

    @Test func sixFieldsAndMacros() async throws {
        let seconds = try await next(["*/20 * * * * *", "--tz", "UTC", "--from", "2026-01-01T00:00:00Z", "--count", "3"])
        #expect(seconds.stdout == "2026-01-01T00:00:20+00:00\n2026-01-01T00:00:40+00:00\n2026-01-01T00:01:00+00:00\n")
        let yearly = try await next(["@yearly", "--tz", "Europe/Berlin", "--from", "2026-06-01T00:00:00Z", "--count", "1"])
        #expect(yearly.stdout == "2027-01-01T00:00:00+01:00\n")
    }

    @Test func rebootSaysItHasNoStartTimes() async throws {
        let output = try await next(["@reboot"])
        #expect(output.status == 0)
        #expect(output.stdout.contains("@reboot") && output.stdout.contains("daemon starts"), "stdout: \(output.stdout)")
        let json = try await next(["@reboot", "--json"])
        #expect(try json.json() == .object(["expr": .string("@reboot"), "timezone": .string("GMT"), "starts": .array([])]))
    }

    /// Bad input: exit status 2, the reason on standard error, nothing on standard output.
    @Test(arguments: [
        (["61 * * * *"], "minute: 61 is out of range"),
        (["*/0 * * * *"], "step"),
        (["5-1 * * * *"], "reversed"),
        (["* * * FOO *"], "FOO"),
        (["0 0 30 2 *"], "never"),
        ([""], "empty"),
        (["* * * *"], "too few"),
        (["TZ=Mars/Olympus 0 9 * * *"], "Mars/Olympus"),
        (["@every 500ms"], "one second"),
        (["@sometimes"], "unknown macro"),
        (["* * * * *", "--tz", "Mars/Olympus"], "--tz"),
        (["* * * * *", "--from", "yesterday"], "--from"),
        (["* * * * *", "--from", "2026-02-30T00:00:00Z"], "--from"),
        (["* * * * *", "--count", "0"], "--count"),
        (["* * * * *", "--count", "-3"], "count"),
        (["* * * * *", "--count", "many"], "count"),
        ([], "expression"),
    ] as [([String], String)])
    func badInputExitsWith2(_ arguments: [String], _ mention: String) async throws {
        let output = try await next(arguments)
        #expect(output.status == 2, "output: \(output.combined)")
        #expect(output.stderr.contains(mention), "stderr: \(output.stderr)")
        #expect(output.stdout.isEmpty, "stdout: \(output.stdout)")
    }
}
