// main.swift (CronFuzz): Schedule.parse and the next starts it plans, under libFuzzer.
//
// Input: byte 0 picks the default zone, bytes 1...8 the instant to plan from (seconds around
// 1970, within ±317,000 years), the rest is the schedule text (`0 3 * * *`, `TZ=... @daily`,
// `@every 1h30m`, ...). Parsing may refuse the text but never trap; a parsed schedule must
// parse again to itself, and its starts must be strictly after the instant, ascending, with
// nothing skipped between the instant and the first.
import Foundation
import CFuzzDriver
import Glibc
import TideSchedule

let zones: [TimeZone] = [
    "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Chatham",
    "America/Santiago", "Asia/Kathmandu", "Pacific/Apia", "America/St_Johns", "Europe/London",
    "Africa/Casablanca", "Antarctica/Troll", "Asia/Tehran", "Pacific/Kiritimati", "America/Havana",
    "Europe/Dublin",
].map { TimeZone(identifier: $0)! }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size >= 9 else { return 0 }
    let zone = zones[Int(data[0]) % zones.count]
    var raw: Int64 = 0
    for i in 1...8 { raw = raw << 8 | Int64(data[i]) }
    let after = Date(timeIntervalSince1970: Double(raw % 10_000_000_000_000))
    let text = String(decoding: UnsafeBufferPointer(start: data + 9, count: size - 9), as: UTF8.self)
    guard let schedule = try? Schedule.parse(text, defaultZone: zone) else { return 0 }

    let again = try? Schedule.parse(schedule.text, defaultZone: zone)
    check(again == schedule, "'\(schedule.text)' parses to another schedule")

    let starts = schedule.starts(after: after, count: 4)
    var previous = after
    for start in starts {
        check(start > previous, "'\(text)' in \(zone.identifier): start \(start.timeIntervalSince1970) not after \(previous.timeIntervalSince1970)")
        previous = start
    }
    guard let first = starts.first else { return 0 }
    check(schedule.next(after: after) == first, "starts(after:count:) and next(after:) disagree")
    if case .cron = schedule.kind {
        // no start between `after` and the first: planning from just before it finds it again
        let before = first.addingTimeInterval(-1)
        if before >= after {
            let refound = schedule.next(after: before)
            check(
                refound == first,
                "'\(text)' in \(zone.identifier): next(after: \(after.timeIntervalSince1970)) = \(first.timeIntervalSince1970), but next(after: \(before.timeIntervalSince1970)) = \(refound.map { "\($0.timeIntervalSince1970)" } ?? "nil")")
        }
    }
    return 0
}

/// Stops with `message` when `ok` is false. (A failed `precondition` prints no message in a release build.)
func check(_ ok: Bool, _ message: @autoclosure () -> String) {
    if !ok { fatalError(message()) }
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) })
