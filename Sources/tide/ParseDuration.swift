// ParseDuration.swift: the durations of command-line options (--grace-period), Foundation-free so
// that Fuzz/DurationFuzz compiles this file alone.

/// Seconds of "500ms", "10s", "2m", "1h" (or a bare number of seconds).
func parseDuration(_ text: String) -> Double? {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, factor) in units where text.hasSuffix(suffix) {
        if let value = Double(text.dropLast(suffix.count)), value.isFinite, value >= 0, value * factor <= 86400 * 365 {
            return value * factor
        }
    }
    if let value = Double(text), value.isFinite, value >= 0, value <= 86400 * 365 { return value }
    return nil
}
