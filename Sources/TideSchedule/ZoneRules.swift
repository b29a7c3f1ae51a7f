// ZoneRules.swift: a zone's UTC offsets and transitions as a sorted table, read without Foundation.
import Foundation
import Synchronization

/// The offset history of one time zone, precomputed once per zone from Foundation's `TimeZone`
/// for 1900 to 2200 so that the planner's hot loop does a binary search instead of a Foundation
/// call. Instants outside the table are answered by Foundation directly (same answers, slower).
///
/// Instants are whole seconds since the Unix epoch; offsets are seconds east of UTC.
final class ZoneRules: Sendable {
    /// The zone the table was built from.
    let zone: TimeZone
    /// The table covers instants in `tableStart..<tableEnd`: every offset change in it is listed.
    let tableStart: Int64
    let tableEnd: Int64
    /// The instants where the offset changes, ascending (changes of the DST flag alone are dropped).
    let transitions: [Int64]
    /// `offsets[i]` holds before `transitions[i]` and from `transitions[i - 1]` on; one more than `transitions`.
    let offsets: [Int]
    /// The first possible transition at or after `tableEnd` (nil: none), so the table's edge costs no Foundation call.
    private let transitionAfterTable: Int64?

    /// 1900-01-01T00:00:00Z and 2200-01-01T00:00:00Z.
    static let defaultRange: Range<Int64> = -2_208_988_800..<7_258_118_400

    private static let cache = Mutex<[String: ZoneRules]>([:])

    /// The shared table of `zone` (built on first use, then reused by every schedule in that zone).
    static func rules(for zone: TimeZone) -> ZoneRules {
        cache.withLock { cache in
            if let rules = cache[zone.identifier] { return rules }
            let rules = ZoneRules(zone: zone, range: defaultRange)
            cache[zone.identifier] = rules
            return rules
        }
    }

    init(zone: TimeZone, range: Range<Int64>) {
        self.zone = zone
        tableStart = range.lowerBound
        tableEnd = range.upperBound
        var transitions: [Int64] = []
        var offsets = [zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(range.lowerBound)))]
        var cursor = Date(timeIntervalSince1970: Double(range.lowerBound))
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor) {
            let instant = Int64(next.timeIntervalSince1970.rounded(.down))
            guard instant < range.upperBound, next > cursor else { break }
            let offset = zone.secondsFromGMT(for: next)
            if offset != offsets[offsets.count - 1] {
                transitions.append(instant)
                offsets.append(offset)
            }
            cursor = next
        }
        self.transitions = transitions
        self.offsets = offsets
        transitionAfterTable = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(range.upperBound - 1)))
            .map { Int64($0.timeIntervalSince1970.rounded(.down)) }
    }

    /// The number of transitions at or before `instant` (only for instants inside the table).
    @inline(__always)
    private func transitionsUpTo(_ instant: Int64) -> Int {
        var low = 0
        var high = transitions.count
        while low < high {
            let mid = (low + high) >> 1
            if transitions[mid] <= instant { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// The offset from UTC, in seconds, at `instant`.
    @inline(__always)
    func offset(at instant: Int64) -> Int {
        if instant >= tableStart && instant < tableEnd {
            return offsets[transitionsUpTo(instant)]
        }
        return zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(instant)))
    }

    /// The first instant strictly after `instant` where the offset may change, or nil if it never does.
    @inline(__always)
    func nextTransition(after instant: Int64) -> Int64? {
        if instant >= tableStart && instant < tableEnd {
            let index = transitionsUpTo(instant)
            if index < transitions.count { return transitions[index] }
            return transitionAfterTable
        }
        return foundationTransition(after: instant)
    }

    private func foundationTransition(after instant: Int64) -> Int64? {
        guard let next = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(instant))) else {
            return nil
        }
        return Int64(next.timeIntervalSince1970.rounded(.down))
    }

    /// When `instant` lies in the second pass through wall times repeated by a fall-back
    /// transition, the wall time (seconds since 1970 on the local clock) at which wall times
    /// become new again; nil otherwise.
    func repeatedWallEnd(at instant: Int64) -> Int64? {
        if instant >= tableStart && instant < tableEnd {
            let index = transitionsUpTo(instant)
            guard index > 0 else { return nil }
            let before = offsets[index - 1]
            let after = offsets[index]
            let start = transitions[index - 1]
            guard before > after, instant < start + Int64(before - after) else { return nil }
            return start + Int64(before)
        }
        // Outside the table: look at the transitions of the last two days.
        var latest: Int64?
        var cursor = instant - 2 * 86_400
        while let next = foundationTransition(after: cursor), next <= instant {
            latest = next
            cursor = next
        }
        guard let start = latest else { return nil }
        let before = offset(at: start - 1)
        let after = offset(at: start)
        guard before > after, instant < start + Int64(before - after) else { return nil }
        return start + Int64(before)
    }
}

extension ZoneRules {
    /// The instant the wall clock first shows `wall` (seconds since 1970-01-01T00:00 on the local
    /// clock); for a wall time skipped by a gap, the first instant after the gap.
    func firstInstant(ofWall wall: Int64) -> Int64 {
        // Start a day early, when the clock showed an earlier time whatever the offset, and walk
        // the stretches of constant offset forward as `CronExpression.next` does.
        var current = wall - 2 * 86_400
        var offset = Int64(self.offset(at: current))
        while true {
            guard let transition = nextTransition(after: current) else { return wall - offset }
            if wall - offset < transition { return wall - offset }
            let newOffset = Int64(self.offset(at: transition))
            if newOffset > offset && wall < transition + newOffset { return transition }
            current = transition
            offset = newOffset
        }
    }
}
