// Parsing of cron expressions: fields, lists, ranges, steps, names, macros, and every error.
import Foundation
import Testing

@testable import TideSchedule

@Suite("Cron parser")
struct CronParserTests {
    /// One field's text and the values it stands for.
    struct FieldCase: Sendable, CustomTestStringConvertible {
        var expression: String
        var field: CronField
        var expected: [Int]
        var testDescription: String { "'\(expression)' \(field.name) = \(expected)" }
    }

    static let fieldCases: [FieldCase] = [
        FieldCase(expression: "* * * * *", field: .minute, expected: Array(0...59)),
        FieldCase(expression: "*/15 * * * *", field: .minute, expected: [0, 15, 30, 45]),
        FieldCase(expression: "1-30/5 * * * *", field: .minute, expected: [1, 6, 11, 16, 21, 26]),
        FieldCase(expression: "5/10 * * * *", field: .minute, expected: [5, 15, 25, 35, 45, 55]),
        FieldCase(expression: "59/15 * * * *", field: .minute, expected: [59]),
        FieldCase(expression: "0,7,3-5 * * * *", field: .minute, expected: [0, 3, 4, 5, 7]),
        FieldCase(expression: "5-5 * * * *", field: .minute, expected: [5]),
        FieldCase(expression: "0 */7 * * *", field: .hour, expected: [0, 7, 14, 21]),
        FieldCase(expression: "0 23 * * *", field: .hour, expected: [23]),
        FieldCase(expression: "0 0 */10 * *", field: .dayOfMonth, expected: [1, 11, 21, 31]),
        FieldCase(expression: "0 0 1 jan,MAR-may *", field: .month, expected: [1, 3, 4, 5]),
        FieldCase(expression: "0 0 1 */4 *", field: .month, expected: [1, 5, 9]),
        FieldCase(expression: "0 0 1 Dec *", field: .month, expected: [12]),
        FieldCase(expression: "0 0 * * mon-fri", field: .dayOfWeek, expected: [1, 2, 3, 4, 5]),
        FieldCase(expression: "0 0 * * 7", field: .dayOfWeek, expected: [0]),
        FieldCase(expression: "0 0 * * 5-7", field: .dayOfWeek, expected: [0, 5, 6]),
        FieldCase(expression: "0 0 * * SAT-SUN", field: .dayOfWeek, expected: [0, 6]),
        FieldCase(expression: "0 0 * * 0-7", field: .dayOfWeek, expected: Array(0...6)),
        FieldCase(expression: "0 0 * * fri-SUN", field: .dayOfWeek, expected: [0, 5, 6]),
        FieldCase(expression: "0 0 * * sun-sun", field: .dayOfWeek, expected: [0]),
        FieldCase(expression: "0 0 * * 7-7", field: .dayOfWeek, expected: [0]),
        FieldCase(expression: "0 0 * * */2", field: .dayOfWeek, expected: [0, 2, 4, 6]),
        FieldCase(expression: "0 0 * * 1-7/2", field: .dayOfWeek, expected: [0, 1, 3, 5]),
        FieldCase(expression: "0 0 * * 1/3", field: .dayOfWeek, expected: [1, 4]),
        FieldCase(expression: "0 0 * * Sun,Wed", field: .dayOfWeek, expected: [0, 3]),
        FieldCase(expression: "*/10 * * * * *", field: .second, expected: [0, 10, 20, 30, 40, 50]),
        FieldCase(expression: "* * * * *", field: .second, expected: [0]),
        FieldCase(expression: "7 30 * * * *", field: .minute, expected: [30]),
        FieldCase(expression: "\t0  12 *\t* *  ", field: .hour, expected: [12]),
    ]

    @Test(arguments: fieldCases)
    func fieldValues(_ test: FieldCase) throws {
        let expression = try CronExpression.parse(test.expression)
        let mask: [Int] =
            switch test.field {
            case .second: values(expression.seconds)
            case .minute: values(expression.minutes)
            case .hour: values(expression.hours)
            case .dayOfMonth: values(expression.daysOfMonth)
            case .month: values(expression.months)
            case .dayOfWeek: values(expression.daysOfWeek)
            }
        #expect(mask == test.expected)
    }

    /// Vixie cron: the OR rule applies only when neither day field starts with '*'.
    @Test(arguments: [
        ("0 0 1 * 1", true), ("0 0 1-15 * mon", true), ("0 0 * * 1", false), ("0 0 1 * *", false),
        ("0 0 */2 * 1", false), ("0 0 1 * */2", false), ("0 0 1 * 0-7", true), ("0 0 1-31 * 1", true),
    ])
    func dayRule(_ expression: String, _ either: Bool) throws {
        #expect(try CronExpression.parse(expression).daysMatchEither == either)
    }

    @Test(arguments: [
        ("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"), ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"), ("@hourly", "0 * * * *"), ("@DAILY", "0 0 * * *"),
    ])
    func macros(_ macro: String, _ expansion: String) throws {
        #expect(try CronExpression.parse(macro) == CronExpression.parse(expansion))
    }

    @Test func namesAreCaseInsensitive() throws {
        #expect(try CronExpression.parse("0 0 * jan-MAR Mon-fri") == CronExpression.parse("0 0 * 1-3 1-5"))
    }

    /// A text that must be rejected, the field the error must name and words its message must hold.
    struct ErrorCase: Sendable, CustomTestStringConvertible {
        var text: String
        var field: String?
        var mentions: [String]
        var testDescription: String { "'\(text)' -> \(field ?? "whole expression")" }
    }

    static let errorCases: [ErrorCase] = [
        ErrorCase(text: "61 * * * *", field: "minute", mentions: ["61", "out of range", "0-59"]),
        ErrorCase(text: "0 24 * * *", field: "hour", mentions: ["24", "0-23"]),
        ErrorCase(text: "0 0 0 * *", field: "day-of-month", mentions: ["0", "1-31"]),
        ErrorCase(text: "0 0 32 * *", field: "day-of-month", mentions: ["32"]),
        ErrorCase(text: "0 0 * 13 *", field: "month", mentions: ["13", "1-12"]),
        ErrorCase(text: "0 0 * * 8", field: "day-of-week", mentions: ["8", "0-7"]),
        ErrorCase(text: "60 * * * * *", field: "second", mentions: ["60"]),
        ErrorCase(text: "*/0 * * * *", field: "minute", mentions: ["step", "0"]),
        ErrorCase(text: "0 1-5/0 * * *", field: "hour", mentions: ["step"]),
        ErrorCase(text: "*/90 * * * *", field: "minute", mentions: ["90", "@every 90m"]),
        ErrorCase(text: "*/x * * * *", field: "minute", mentions: ["step"]),
        ErrorCase(text: "5-1 * * * *", field: "minute", mentions: ["reversed", "1-5"]),
        ErrorCase(text: "0 0 * * FRI-MON", field: "day-of-week", mentions: ["reversed"]),
        ErrorCase(text: "0 0 * * 5-0", field: "day-of-week", mentions: ["reversed"]),
        ErrorCase(text: "* * * FOO *", field: "month", mentions: ["FOO", "unknown name"]),
        ErrorCase(text: "* * * * FOO", field: "day-of-week", mentions: ["FOO", "unknown name"]),
        ErrorCase(text: "* * * * monday", field: "day-of-week", mentions: ["monday"]),
        ErrorCase(text: "* * * MON *", field: "month", mentions: ["MON"]),
        ErrorCase(text: "jan * * * *", field: "minute", mentions: ["jan", "not a number"]),
        ErrorCase(text: "1,,2 * * * *", field: "minute", mentions: ["empty"]),
        ErrorCase(text: "1- * * * *", field: "minute", mentions: ["missing"]),
        ErrorCase(text: "1/2/3 * * * *", field: "minute", mentions: ["'/'"]),
        ErrorCase(text: "-1 * * * *", field: "minute", mentions: ["missing"]),
        ErrorCase(text: "0 0 L * *", field: "day-of-month", mentions: ["L"]),
        ErrorCase(text: "0 0 * * 1#2", field: "day-of-week", mentions: ["#"]),
        ErrorCase(text: "0 0 ? * 1", field: "day-of-month", mentions: ["?"]),
        ErrorCase(text: "", field: nil, mentions: ["empty"]),
        ErrorCase(text: "   ", field: nil, mentions: ["empty"]),
        ErrorCase(text: "* * * *", field: nil, mentions: ["too few", "4"]),
        ErrorCase(text: "*", field: nil, mentions: ["too few"]),
        ErrorCase(text: "* * * * * * *", field: nil, mentions: ["too many", "7"]),
        ErrorCase(text: "0 0 30 2 *", field: "day-of-month", mentions: ["never", "30", "February"]),
        ErrorCase(text: "0 0 31 4,6,9,11 *", field: "day-of-month", mentions: ["never", "31", "April", "November"]),
        ErrorCase(text: "0 0 30,31 feb *", field: "day-of-month", mentions: ["never"]),
        ErrorCase(text: "@fortnightly", field: nil, mentions: ["unknown macro", "@fortnightly"]),
        ErrorCase(text: "@daily 5", field: nil, mentions: ["@daily"]),
    ]

    @Test(arguments: errorCases)
    func rejects(_ test: ErrorCase) {
        #expect {
            _ = try CronExpression.parse(test.text)
        } throws: { error in
            guard let error = error as? ScheduleError else { return false }
            let described = error.description
            return error.field == test.field && test.mentions.allSatisfy { described.contains($0) }
        }
    }

    /// Never-firing is decided with the OR rule: Feb 30 or any Monday does fire.
    @Test func impossibleDayWithWeekdayFires() throws {
        let expression = try CronExpression.parse("0 0 30 2 1")
        let next = expression.next(after: instant("2026-01-01T00:00:00Z"), in: zone("UTC"))
        #expect(next.map { formatISO8601($0, in: zone("UTC")) } == "2026-02-02T00:00:00+00:00")
    }

    @Test func errorDescriptionNamesTheField() {
        let error = ScheduleError(field: "minute", message: "61 is out of range 0-59")
        #expect(error.description == "minute: 61 is out of range 0-59")
        #expect(ScheduleError(field: nil, message: "the schedule is empty").description == "the schedule is empty")
    }
}
