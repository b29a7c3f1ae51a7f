// ISO8601.swift: timestamps with offsets, formatted and parsed by hand (no DateFormatter).
import Foundation

/// `date` as an ISO 8601 timestamp with the offset of `zone` at that instant:
/// `2026-03-08T03:00:00-04:00`. Milliseconds appear only when they are not zero.
public func formatISO8601(_ date: Date, in zone: TimeZone) -> String {
    let time = date.timeIntervalSince1970
    guard time.isFinite, abs(time) < 1e15 else { return "invalid date" }
    var whole = time.rounded(.down)
    var milliseconds = Int(((time - whole) * 1000).rounded())
    if milliseconds == 1000 {
        whole += 1
        milliseconds = 0
    }
    let instant = Int64(whole)
    let offset = ZoneRules.rules(for: zone).offset(at: instant)
    let wall = CivilTime(wallSeconds: instant + Int64(offset))
    var text = "\(pad(wall.year, 4))-\(pad(wall.month, 2))-\(pad(wall.day, 2))T\(pad(wall.hour, 2)):\(pad(wall.minute, 2)):\(pad(wall.second, 2))"
    if milliseconds != 0 { text += ".\(pad(milliseconds, 3))" }
    let magnitude = abs(offset)
    text += "\(offset < 0 ? "-" : "+")\(pad(magnitude / 3600, 2)):\(pad(magnitude / 60 % 60, 2))"
    if magnitude % 60 != 0 { text += ":\(pad(magnitude % 60, 2))" }  // local mean time before 1900
    return text
}

private func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(abs(value))
    let padded = digits.count < width ? String(repeating: "0", count: width - digits.count) + digits : digits
    return value < 0 ? "-" + padded : padded
}

/// Parses `YYYY-MM-DDTHH:MM[:SS[.fraction]]` followed by `Z` or an offset (`+02:00`, `+0200`,
/// `+02`); a space may replace the `T`. Nil for anything else, offsets included as required.
public func parseISO8601(_ text: String) -> Date? {
    guard let parts = ISO8601Parts(text), let offset = parts.offset else { return nil }
    return Date(timeIntervalSince1970: Double(parts.wall - Int64(offset)) + parts.fraction)
}

/// Like `parseISO8601(_:)`, but a timestamp without an offset is a wall time in `zone`: a time
/// repeated by a fall-back means its first occurrence, a time skipped by a spring-forward the
/// first instant after the gap (the daylight-saving rule of schedules).
public func parseISO8601(_ text: String, defaultZone zone: TimeZone) -> Date? {
    guard let parts = ISO8601Parts(text) else { return nil }
    if let offset = parts.offset {
        return Date(timeIntervalSince1970: Double(parts.wall - Int64(offset)) + parts.fraction)
    }
    let instant = ZoneRules.rules(for: zone).firstInstant(ofWall: parts.wall)
    return Date(timeIntervalSince1970: Double(instant) + parts.fraction)
}

/// The pieces of an ISO 8601 timestamp.
struct ISO8601Parts {
    /// Whole seconds since 1970-01-01T00:00:00 on the timestamp's own clock.
    var wall: Int64
    /// The fraction of a second, 0 <= fraction < 1.
    var fraction: Double
    /// Seconds east of UTC, or nil when the text has no offset.
    var offset: Int?

    init?(_ text: String) {
        var scanner = Scanner(Array(text.utf8))
        guard let year = scanner.digits(4), scanner.take("-"), let month = scanner.digits(2), scanner.take("-"),
              let day = scanner.digits(2), scanner.take("T") || scanner.take("t") || scanner.take(" "),
              let hour = scanner.digits(2), scanner.take(":"), let minute = scanner.digits(2)
        else { return nil }
        var second = 0
        var fraction = 0.0
        if scanner.take(":") {
            guard let s = scanner.digits(2) else { return nil }
            second = s
            if scanner.take(".") || scanner.take(",") {
                let start = scanner.position
                var scale = 0.1
                while let digit = scanner.digit() {
                    fraction += Double(digit) * scale
                    scale /= 10
                }
                guard scanner.position > start else { return nil }
            }
        }
        guard (1...12).contains(month), (1...daysInMonth(year, month)).contains(day), (0...23).contains(hour),
              (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        if scanner.atEnd {
            offset = nil
        } else if scanner.take("Z") || scanner.take("z") {
            offset = 0
        } else {
            let sign: Int
            if scanner.take("+") { sign = 1 } else if scanner.take("-") { sign = -1 } else { return nil }
            guard let hours = scanner.digits(2), hours <= 18 else { return nil }
            var minutes = 0
            if !scanner.atEnd {
                _ = scanner.take(":")
                guard let m = scanner.digits(2), m <= 59 else { return nil }
                minutes = m
            }
            offset = sign * (hours * 3600 + minutes * 60)
        }
        guard scanner.atEnd else { return nil }
        wall = CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second).wallSeconds
        self.fraction = fraction
    }

    /// A cursor over ASCII bytes.
    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        var atEnd: Bool { position == bytes.count }

        mutating func take(_ character: Character) -> Bool {
            guard position < bytes.count, let ascii = character.asciiValue, bytes[position] == ascii else { return false }
            position += 1
            return true
        }

        mutating func digit() -> Int? {
            guard position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 else { return nil }
            position += 1
            return Int(bytes[position - 1] - 48)
        }

        mutating func digits(_ count: Int) -> Int? {
            var value = 0
            for _ in 0..<count {
                guard let d = digit() else { return nil }
                value = value * 10 + d
            }
            return value
        }
    }
}
