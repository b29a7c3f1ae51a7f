// CronField.swift: the six fields of a cron expression: names, ranges and the names they accept.

/// One field of a cron expression, in the order they are written (seconds only in six-field form).
enum CronField: Int, CaseIterable, Sendable {
    case second, minute, hour, dayOfMonth, month, dayOfWeek

    /// The field's name in error messages and docs.
    var name: String {
        switch self {
        case .second: "second"
        case .minute: "minute"
        case .hour: "hour"
        case .dayOfMonth: "day-of-month"
        case .month: "month"
        case .dayOfWeek: "day-of-week"
        }
    }

    /// The smallest value the field accepts.
    var minimum: Int {
        switch self {
        case .dayOfMonth, .month: 1
        default: 0
        }
    }

    /// The largest value the field accepts (7 in day-of-week is Sunday again).
    var maximum: Int {
        switch self {
        case .second, .minute: 59
        case .hour: 23
        case .dayOfMonth: 31
        case .month: 12
        case .dayOfWeek: 7
        }
    }

    /// The largest value `*` and `N/step` run up to: day-of-week stops at 6 (7 would repeat Sunday).
    var starMaximum: Int { self == .dayOfWeek ? 6 : maximum }

    /// The three-letter names the field accepts, lowercase, with their values.
    var names: [String: Int] {
        switch self {
        case .month:
            ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
             "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12]
        case .dayOfWeek:
            ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6]
        default:
            [:]
        }
    }

    /// An example of valid values, for error messages.
    var hint: String {
        switch self {
        case .month: "1-12 or JAN-DEC"
        case .dayOfWeek: "0-7 (0 and 7 are Sunday) or SUN-SAT"
        default: "\(minimum)-\(maximum)"
        }
    }
}
