// CronParser.swift: cron expression text -> CronExpression, with an error naming field and reason.

/// Parses cron expressions; every rejection is a `ScheduleError` naming the field and the reason.
enum CronParser {
    /// The macros that stand for a cron expression.
    static let macros: [String: String] = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    static let fieldsHelp = "a schedule has 5 fields (minute hour day-of-month month day-of-week), or 6 with a leading seconds field"

    static func parse(_ text: String) throws(ScheduleError) -> CronExpression {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
        guard let first = words.first else {
            throw ScheduleError(field: nil, message: "the schedule is empty; \(fieldsHelp), or a macro such as @daily")
        }
        if first.hasPrefix("@") {
            let name = first.lowercased()
            guard let expansion = macros[name] else {
                if name == "@every" || name == "@reboot" {
                    throw ScheduleError(field: nil, message: "\(first) is a schedule of its own, not a cron expression")
                }
                throw ScheduleError(
                    field: nil,
                    message: "unknown macro '\(first)' (known: @yearly @annually @monthly @weekly @daily @midnight @hourly @every <duration> @reboot)")
            }
            guard words.count == 1 else {
                throw ScheduleError(field: nil, message: "\(first) takes no fields, but '\(words.dropFirst().joined(separator: " "))' follows it")
            }
            return try parse(expansion)
        }
        guard words.count == 5 || words.count == 6 else {
            throw ScheduleError(
                field: nil,
                message: "\(words.count < 5 ? "too few" : "too many") fields (\(words.count)) in '\(words.joined(separator: " "))': \(fieldsHelp)")
        }
        let fields: [CronField] = words.count == 6 ? CronField.allCases : Array(CronField.allCases.dropFirst())
        var masks = [UInt64](repeating: 0, count: CronField.allCases.count)
        masks[CronField.second.rawValue] = 1  // five fields: at second 0
        for (word, field) in zip(words, fields) {
            masks[field.rawValue] = try parseField(word, field)
        }
        let dayOfMonth = words[words.count - 3]
        let dayOfWeek = words[words.count - 1]
        // Vixie cron: a day field is restricted unless it starts with '*' (so '*/2' counts as unrestricted).
        let expression = CronExpression(
            seconds: masks[CronField.second.rawValue],
            minutes: masks[CronField.minute.rawValue],
            hours: UInt32(masks[CronField.hour.rawValue]),
            daysOfMonth: UInt32(masks[CronField.dayOfMonth.rawValue]),
            months: UInt16(masks[CronField.month.rawValue]),
            daysOfWeek: UInt8(masks[CronField.dayOfWeek.rawValue]),
            daysMatchEither: !dayOfMonth.hasPrefix("*") && !dayOfWeek.hasPrefix("*"))
        try checkCanFire(expression)
        return expression
    }

    /// Rejects day-of-month and month combinations that never occur (`0 0 30 2 *`).
    ///
    /// Under the OR rule the day-of-week alone makes days match, and every (month, day, weekday)
    /// combination occurs in some year, so only the day-of-month has to fit one of the months.
    static func checkCanFire(_ expression: CronExpression) throws(ScheduleError) {
        if expression.daysMatchEither { return }
        let longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        for month in 1...12 where expression.months & (1 << UInt16(month)) != 0 {
            let valid: UInt32 = longest[month] == 31 ? 0xFFFF_FFFE : ((1 << UInt32(longest[month] + 1)) - 2)
            if expression.daysOfMonth & valid != 0 { return }
        }
        let monthNames = ["", "January", "February", "March", "April", "May", "June", "July", "August",
                          "September", "October", "November", "December"]
        let days = (1...31).filter { expression.daysOfMonth & (1 << UInt32($0)) != 0 }.map(String.init)
        let inMonths = (1...12).filter { expression.months & (1 << UInt16($0)) != 0 }.map { monthNames[$0] }
        throw ScheduleError(
            field: "day-of-month",
            message: "the schedule can never fire: day \(days.joined(separator: ",")) never occurs in \(inMonths.joined(separator: ", "))")
    }

    /// One field: a comma-separated list of `*`, `N`, `N-M`, each optionally followed by `/step`.
    static func parseField(_ text: Substring, _ field: CronField) throws(ScheduleError) -> UInt64 {
        var mask: UInt64 = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            mask |= try parseItem(item, of: text, field)
        }
        return mask
    }

    static func parseItem(_ item: Substring, of text: Substring, _ field: CronField) throws(ScheduleError) -> UInt64 {
        func fail(_ message: String) -> ScheduleError { ScheduleError(field: field.name, message: message) }
        if item.isEmpty { throw fail("empty item in the list '\(text)'") }
        if item.contains("?") { throw fail("'?' is not supported in '\(item)'; use *") }
        if item.contains("#") { throw fail("'\(item)': '#' (nth weekday of the month) is not supported; tide follows Vixie cron") }
        if field == .dayOfMonth, item.contains(where: { "LlWw".contains($0) }) {
            throw fail("'\(item)': L (last day) and W (nearest weekday) are not supported; tide follows Vixie cron")
        }
        let parts = item.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw fail("'\(item)' has more than one '/'") }
        var step = 1
        if parts.count == 2 {
            let stepText = parts[1]
            guard !stepText.isEmpty, stepText.count <= 9, stepText.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(stepText) else {
                throw fail("the step in '\(item)' must be a whole number, like */15")
            }
            guard value > 0 else { throw fail("the step in '\(item)' is 0; a step must be at least 1") }
            let span = field.starMaximum - field.minimum + 1
            guard value <= span else {
                let every = field == .minute ? " (for every \(value) minutes, use @every \(value)m)" :
                    field == .second ? " (for every \(value) seconds, use @every \(value)s)" :
                    field == .hour ? " (for every \(value) hours, use @every \(value)h)" : ""
                throw fail("the step \(value) in '\(item)' is larger than the field's range \(field.minimum)-\(field.starMaximum)\(every)")
            }
            step = value
        }
        let base = parts[0]
        let low: Int
        let high: Int
        if base == "*" {
            low = field.minimum
            high = field.starMaximum
        } else if let dash = base.firstIndex(of: "-") {
            let lowText = base[..<dash]
            let highText = base[base.index(after: dash)...]
            low = try value(lowText, in: item, field)
            var upper = try value(highText, in: item, field)
            // "FRI-SUN": a range that ends on Sunday by name runs up to 7 ("SUN-SUN" stays Sunday).
            if field == .dayOfWeek && upper == 0 && low > 0 && highText.lowercased() == "sun" { upper = 7 }
            guard low <= upper else {
                throw fail("the range '\(base)' is reversed; write the smaller value first (\(highText)-\(lowText))")
            }
            high = upper
        } else {
            low = try value(base, in: item, field)
            high = parts.count == 2 ? max(low, field.starMaximum) : low  // "5/10" runs from 5 to the field's end
        }
        var mask: UInt64 = 0
        for value in stride(from: low, through: high, by: step) {
            mask |= 1 << UInt64(field == .dayOfWeek && value == 7 ? 0 : value)
        }
        return mask
    }

    /// One number or name of `field`, checked against the field's range.
    static func value(_ text: Substring, in item: Substring, _ field: CronField) throws(ScheduleError) -> Int {
        func fail(_ message: String) -> ScheduleError { ScheduleError(field: field.name, message: message) }
        if text.isEmpty { throw fail("'\(item)' is missing a value (\(field.hint))") }
        let number: Int
        if text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard text.count <= 9, let parsed = Int(text) else { throw fail("\(text) is out of range \(field.hint)") }
            number = parsed
        } else if text.allSatisfy({ $0.isASCII && $0.isLetter }) {
            guard let named = field.names[text.lowercased()] else {
                if field.names.isEmpty { throw fail("'\(text)' is not a number (\(field.hint))") }
                throw fail("unknown name '\(text)' (\(field.hint))")
            }
            number = named
        } else {
            throw fail("'\(text)' is neither a number nor a name (\(field.hint))")
        }
        guard number >= field.minimum && number <= field.maximum else {
            throw fail("\(number) is out of range \(field.hint)")
        }
        return number
    }
}
