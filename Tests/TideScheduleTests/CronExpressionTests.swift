// Next starts of cron expressions where no daylight saving is involved (UTC).
import Foundation
import Testing

@testable import TideSchedule

@Suite("Cron next starts")
struct CronExpressionTests {
    /// An expression, a start, and the starts that must follow, written out by hand.
    struct Case: Sendable, CustomTestStringConvertible {
        var expression: String
        var from: String
        var expected: [String]
        var testDescription: String { "'\(expression)' after \(from)" }
    }

    static let cases: [Case] = [
        Case(expression: "*/15 * * * *", from: "2026-05-04T10:07:00Z",
             expected: ["2026-05-04T10:15:00+00:00", "2026-05-04T10:30:00+00:00", "2026-05-04T10:45:00+00:00", "2026-05-04T11:00:00+00:00"]),
        // Strictly after: a start exactly at `from` is not returned.
        Case(expression: "0 * * * *", from: "2026-05-04T10:00:00Z",
             expected: ["2026-05-04T11:00:00+00:00", "2026-05-04T12:00:00+00:00"]),
        Case(expression: "0 * * * *", from: "2026-05-04T09:59:59.5Z", expected: ["2026-05-04T10:00:00+00:00"]),
        // Year and month ends.
        Case(expression: "59 23 31 12 *", from: "2026-06-01T00:00:00Z",
             expected: ["2026-12-31T23:59:00+00:00", "2027-12-31T23:59:00+00:00"]),
        Case(expression: "0 0 31 * *", from: "2026-01-31T00:00:00Z",
             expected: ["2026-03-31T00:00:00+00:00", "2026-05-31T00:00:00+00:00", "2026-07-31T00:00:00+00:00", "2026-08-31T00:00:00+00:00"]),
        // Leap days: 2028, 2032; 2100 is not a leap year.
        Case(expression: "0 0 29 2 *", from: "2026-03-01T00:00:00Z", expected: ["2028-02-29T00:00:00+00:00", "2032-02-29T00:00:00+00:00"]),
        Case(expression: "0 0 29 2 *", from: "2096-03-01T00:00:00Z", expected: ["2104-02-29T00:00:00+00:00"]),
        // Weekdays: 2026-05-04 is a Monday.
        Case(expression: "0 9 * * MON-FRI", from: "2026-05-08T10:00:00Z",
             expected: ["2026-05-11T09:00:00+00:00", "2026-05-12T09:00:00+00:00"]),
        Case(expression: "30 8 * * 7", from: "2026-05-04T00:00:00Z", expected: ["2026-05-10T08:30:00+00:00", "2026-05-17T08:30:00+00:00"]),
        Case(expression: "0 0 * * 5-7", from: "2026-05-04T00:00:00Z",
             expected: ["2026-05-08T00:00:00+00:00", "2026-05-09T00:00:00+00:00", "2026-05-10T00:00:00+00:00", "2026-05-15T00:00:00+00:00"]),
        // The OR rule: the 13th, or any Friday (2026-05-08, 05-13, 05-15).
        Case(expression: "0 0 13 * FRI", from: "2026-05-04T00:00:00Z",
             expected: ["2026-05-08T00:00:00+00:00", "2026-05-13T00:00:00+00:00", "2026-05-15T00:00:00+00:00"]),
        // A day field starting with '*' is unrestricted, so the fields AND: odd days that are Fridays.
        Case(expression: "0 0 */2 * FRI", from: "2026-05-01T00:00:00Z",
             expected: ["2026-05-15T00:00:00+00:00", "2026-05-29T00:00:00+00:00", "2026-06-05T00:00:00+00:00"]),
        Case(expression: "0 0 1,15 * */7", from: "2026-05-04T00:00:00Z",
             expected: ["2026-11-01T00:00:00+00:00", "2026-11-15T00:00:00+00:00"]),
        // Six fields, seconds first.
        Case(expression: "*/10 * * * * *", from: "2026-05-04T10:00:55Z",
             expected: ["2026-05-04T10:01:00+00:00", "2026-05-04T10:01:10+00:00"]),
        Case(expression: "30 0 12 * * *", from: "2026-05-04T12:00:30Z", expected: ["2026-05-05T12:00:30+00:00"]),
        Case(expression: "@yearly", from: "2026-05-04T00:00:00Z", expected: ["2027-01-01T00:00:00+00:00"]),
        Case(expression: "@weekly", from: "2026-05-04T00:00:00Z", expected: ["2026-05-10T00:00:00+00:00"]),
        Case(expression: "@monthly", from: "2026-05-04T00:00:00Z", expected: ["2026-06-01T00:00:00+00:00"]),
        Case(expression: "@hourly", from: "2026-05-04T00:00:00Z", expected: ["2026-05-04T01:00:00+00:00"]),
        // Before 1970 and after the precomputed zone tables.
        Case(expression: "0 12 * * *", from: "1969-12-31T13:00:00Z", expected: ["1970-01-01T12:00:00+00:00"]),
        Case(expression: "0 0 1 1 *", from: "2250-06-01T00:00:00Z", expected: ["2251-01-01T00:00:00+00:00"]),
    ]

    @Test(arguments: cases)
    func nextStarts(_ test: Case) throws {
        #expect(try starts(test.expression, in: "UTC", from: test.from, count: test.expected.count) == test.expected)
    }

    @Test func nextIsStrictlyAfterAndSkipsNothing() throws {
        // Every minute for three days, against a plain minute-by-minute walk.
        let expression = try CronExpression.parse("*/7 1-3,22 * * *")
        var cursor = instant("2026-05-04T00:00:00Z")
        var walk = cursor.timeIntervalSince1970
        for _ in 0..<100 {
            let next = try #require(expression.next(after: cursor, in: zone("UTC")))
            repeat { walk += 60 } while !(Int(walk) / 60 % 60 % 7 == 0 && [1, 2, 3, 22].contains(Int(walk) / 3600 % 24))
            #expect(next.timeIntervalSince1970 == walk)
            cursor = next
        }
    }

    @Test func farEndsOfTimeReturnNil() throws {
        let expression = try CronExpression.parse("* * * * *")
        #expect(expression.next(after: Date(timeIntervalSince1970: .infinity), in: zone("UTC")) == nil)
        #expect(expression.next(after: Date(timeIntervalSince1970: .nan), in: zone("UTC")) == nil)
    }
}
