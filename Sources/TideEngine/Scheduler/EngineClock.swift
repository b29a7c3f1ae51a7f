// EngineClock.swift: the time source of a run, injected so tests control it.
import LuaBridge
import Foundation

/// Monotonic time for deadlines and wall time for records.
public protocol EngineClock: AnyObject, Sendable {
    /// Monotonic nanoseconds.
    func now() -> UInt64
    /// Seconds since the epoch.
    func wallNow() -> Double
}

/// The real clocks.
public final class SystemClock: EngineClock, @unchecked Sendable {
    /// Creates the clock.
    public init() {}
    /// CLOCK_MONOTONIC in nanoseconds.
    public func now() -> UInt64 { luaMonotonicNow() }
    /// `gettimeofday` seconds.
    public func wallNow() -> Double { Date().timeIntervalSince1970 }
}

/// A clock that moves only when told: in virtual time the run driver jumps it to the next deadline
/// whenever nothing is ready, so time logic is tested without sleeping. Used by one run at a time.
public final class ManualClock: EngineClock, @unchecked Sendable {
    /// Current monotonic time in nanoseconds.
    public var nanoseconds: UInt64
    /// Wall-clock seconds at monotonic zero.
    public var wallOrigin: Double

    /// Creates a clock at `start` nanoseconds.
    public init(start: UInt64 = 1_000_000_000, wallOrigin: Double = 1_700_000_000) {
        self.nanoseconds = start
        self.wallOrigin = wallOrigin
    }

    /// The manual time.
    public func now() -> UInt64 { nanoseconds }
    /// Wall time that moves with the manual time.
    public func wallNow() -> Double { wallOrigin + Double(nanoseconds) / 1e9 }

    /// Moves time forward to `deadline` (never backward).
    public func advance(to deadline: UInt64) { nanoseconds = max(nanoseconds, deadline) }
}
