// ScheduleError.swift: the one error type of TideSchedule: which field is wrong, and why.

/// A schedule that cannot be parsed or can never fire.
///
/// `field` names the part of the expression at fault (`"minute"`, `"hour"`, `"day-of-month"`,
/// `"month"`, `"day-of-week"`, `"second"`, `"zone"`, `"@every"`), or is nil when the
/// expression as a whole is wrong (empty, wrong number of fields, unknown macro).
public struct ScheduleError: Error, Equatable, CustomStringConvertible {
    /// The field at fault, or nil for the whole expression.
    public let field: String?
    /// What is wrong and, where it helps, how to fix it.
    public let message: String

    /// Creates an error about `field` (nil: the whole expression).
    public init(field: String?, message: String) {
        self.field = field
        self.message = message
    }

    /// `field: message`, or just the message when no field is at fault.
    public var description: String {
        guard let field else { return message }
        return "\(field): \(message)"
    }
}
