// Helpers of the schedule tests: zones by name, timestamps written as text.
import Foundation
import Testing

@testable import TideSchedule

/// The zone named `name` (a test bug if Foundation does not know it).
func zone(_ name: String) -> TimeZone {
    guard let zone = TimeZone(identifier: name) else { preconditionFailure("unknown zone \(name) in a test") }
    return zone
}

/// The instant of an ISO 8601 timestamp with offset (a test bug if it does not parse).
func instant(_ text: String) -> Date {
    guard let date = parseISO8601(text) else { preconditionFailure("bad timestamp \(text) in a test") }
    return date
}

/// The next `count` starts of `schedule` after `from`, formatted in the schedule's zone.
func starts(_ schedule: String, in zoneName: String, from: String, count: Int) throws -> [String] {
    let parsed = try Schedule.parse(schedule, defaultZone: zone(zoneName))
    return parsed.starts(after: instant(from), count: count).map { formatISO8601($0, in: parsed.zone) }
}

/// The values whose bits are set in `mask`.
func values(_ mask: some FixedWidthInteger) -> [Int] {
    (0..<mask.bitWidth).filter { mask & (1 << $0) != 0 }
}

/// Runs blocking or long work on a thread of its own and waits for it without holding one of
/// the test runner's cooperative threads (there are as many as cores: two here).
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}
