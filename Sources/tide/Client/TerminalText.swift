// TerminalText.swift: text from flows (names, descriptions, errors, logs) made safe to print.

/// `text` with every control character written as an escape (`\e`, `\n`, `\u{9b}`), so that a
/// flow's name, description or error can neither move the cursor, recolour the terminal nor
/// break a table's row. `keepingLines` leaves newlines and tabs as they are (logs, tracebacks).
func printable(_ text: String, keepingLines: Bool = false) -> String {
    guard text.unicodeScalars.contains(where: { isControl($0) }) else { return text }
    var out = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        guard isControl(scalar) else { out.append(scalar); continue }
        if keepingLines, scalar == "\n" || scalar == "\t" { out.append(scalar); continue }
        let escape: String =
            switch scalar {
            case "\n": "\\n"
            case "\t": "\\t"
            case "\r": "\\r"
            case "\u{1B}": "\\e"
            default: "\\u{" + String(scalar.value, radix: 16) + "}"
            }
        out.append(contentsOf: escape.unicodeScalars)
    }
    return String(out)
}

/// C0 and C1 controls and DEL; also the bidirectional overrides that reorder what a line shows.
private func isControl(_ scalar: Unicode.Scalar) -> Bool {
    let v = scalar.value
    return v < 0x20 || (v >= 0x7F && v < 0xA0) || (v >= 0x202A && v <= 0x202E) || (v >= 0x2066 && v <= 0x2069)
}
