import Foundation
import Testing
import TideEngine
import TideSchedule
@testable import TideDaemon

/// The planner over an injected clock: every instant below is given, none is read.
@Suite("schedule planner")
struct SchedulePlannerTests {
    static let utc = TimeZone(identifier: "UTC")!

    static func at(_ text: String) -> Date { parseISO8601(text)! }

    static func entry(_ expr: String, catchup: CatchupPolicy = .none, window: Double = 86_400) throws -> ScheduleEntry {
        ScheduleEntry(flow: "f", schedule: try Schedule.parse(expr, defaultZone: utc), catchup: catchup, catchupWindow: window)
    }

    @Test("an instant fires once, on time, when the wake comes a little after it")
    func onTime() throws {
        let e = try Self.entry("*/5 * * * *")
        let (firings, mark) = SchedulePlanner.due(e, watermark: Self.at("2026-01-01T10:00:00Z"), now: Self.at("2026-01-01T10:05:00.004Z"))
        #expect(firings == [Firing(instant: Self.at("2026-01-01T10:05:00Z"), catchup: false)])
        #expect(mark == Self.at("2026-01-01T10:05:00Z"))
        // the same look again fires nothing: the watermark moved
        #expect(SchedulePlanner.due(e, watermark: mark, now: Self.at("2026-01-01T10:05:00.010Z")).firings.isEmpty)
        #expect(SchedulePlanner.nextDue(e, watermark: mark) == Self.at("2026-01-01T10:10:00Z"))
    }

    @Test("before the next instant nothing fires and the watermark stays")
    func notYet() throws {
        let e = try Self.entry("0 3 * * *")
        let w = Self.at("2026-01-01T03:00:00Z")
        let (firings, mark) = SchedulePlanner.due(e, watermark: w, now: Self.at("2026-01-01T17:00:00Z"))
        #expect(firings.isEmpty)
        #expect(mark == w)
    }

    @Test("downtime with catchup none: nothing is made up, the watermark moves past the missed instants")
    func downtimeNone() throws {
        let e = try Self.entry("0 * * * *")
        let (firings, mark) = SchedulePlanner.due(e, watermark: Self.at("2026-01-01T00:00:00Z"), now: Self.at("2026-01-01T05:30:00Z"))
        #expect(firings.isEmpty)
        #expect(mark >= Self.at("2026-01-01T05:00:00Z") && mark < Self.at("2026-01-01T05:30:00Z"))
        #expect(SchedulePlanner.nextDue(e, watermark: mark) == Self.at("2026-01-01T06:00:00Z"))
    }

    @Test("downtime with catchup latest: the newest missed instant fires once, as a catch-up")
    func downtimeLatest() throws {
        let e = try Self.entry("0 * * * *", catchup: .latest)
        let (firings, mark) = SchedulePlanner.due(e, watermark: Self.at("2026-01-01T00:00:00Z"), now: Self.at("2026-01-01T05:30:00Z"))
        #expect(firings == [Firing(instant: Self.at("2026-01-01T05:00:00Z"), catchup: true)])
        #expect(mark == Self.at("2026-01-01T05:00:00Z"))
    }

    @Test("downtime with catchup all: every missed instant in the window fires once, oldest first")
    func downtimeAll() throws {
        let e = try Self.entry("0 * * * *", catchup: .all, window: 3 * 3600)
        let (firings, _) = SchedulePlanner.due(e, watermark: Self.at("2026-01-01T00:00:00Z"), now: Self.at("2026-01-01T05:30:00Z"))
        // 01:00 and 02:00 are older than the 3 h window
        #expect(firings.map(\.instant) == ["03:00", "04:00", "05:00"].map { Self.at("2026-01-01T\($0):00Z") })
        #expect(firings.allSatisfy { $0.catchup })
    }

    @Test("a restart across an instant still fires it on time, and catchup all adds the earlier ones")
    func restartAcrossInstant() throws {
        let e = try Self.entry("* * * * * *", catchup: .all)
        let (firings, mark) = SchedulePlanner.due(e, watermark: Self.at("2026-01-01T00:00:10Z"), now: Self.at("2026-01-01T00:00:13.5Z"))
        #expect(firings == [
            Firing(instant: Self.at("2026-01-01T00:00:11Z"), catchup: true),
            Firing(instant: Self.at("2026-01-01T00:00:12Z"), catchup: true),
            Firing(instant: Self.at("2026-01-01T00:00:13Z"), catchup: false),
        ])
        #expect(mark == Self.at("2026-01-01T00:00:13Z"))
    }

    @Test("the wall clock jumping forward fires no burst (catchup none), at most one start")
    func jumpForward() throws {
        let e = try Self.entry("* * * * *")
        // a suspend of 3 hours: 180 instants passed
        let (firings, mark) = SchedulePlanner.due(e, watermark: Self.at("2026-01-01T00:00:00Z"), now: Self.at("2026-01-01T03:00:20Z"))
        #expect(firings == [Firing(instant: Self.at("2026-01-01T03:00:00Z"), catchup: false)])
        #expect(mark == Self.at("2026-01-01T03:00:00Z"))
    }

    @Test("the wall clock jumping back fires nothing until it passes the watermark: no instant twice")
    func jumpBackward() throws {
        let e = try Self.entry("*/10 * * * *")
        let w = Self.at("2026-01-01T12:00:00Z")
        // the clock is set back one hour
        var now = Self.at("2026-01-01T11:00:05Z")
        var fired: [Date] = []
        var mark = w
        while now < Self.at("2026-01-01T12:30:00Z") {
            let (f, m) = SchedulePlanner.due(e, watermark: mark, now: now)
            fired += f.map(\.instant)
            mark = m
            now.addTimeInterval(30)
        }
        #expect(fired == ["12:10", "12:20"].map { Self.at("2026-01-01T\($0):00Z") })
        #expect(SchedulePlanner.nextDue(e, watermark: w) == Self.at("2026-01-01T12:10:00Z"))
    }

    @Test("catchup all never makes up more than the limit, the newest ones")
    func catchupLimit() throws {
        let e = try Self.entry("* * * * * *", catchup: .all)
        let now = Self.at("2026-01-02T00:00:00.5Z")
        let (firings, _) = SchedulePlanner.due(e, watermark: Self.at("2026-01-01T00:00:00Z"), now: now)
        #expect(firings.count == SchedulePlanner.catchupLimit + 1)
        #expect(firings.last == Firing(instant: Self.at("2026-01-02T00:00:00Z"), catchup: false))
        #expect(firings.first?.instant == Self.at("2026-01-01T23:43:20Z"))  // 1,000 s before the on-time one
    }

    @Test("a watermark from long ago costs no walk over the instants in between")
    func ancientWatermark() throws {
        let e = try Self.entry("* * * * * *")
        let (firings, _) = SchedulePlanner.due(e, watermark: Self.at("2000-01-01T00:00:00Z"), now: Self.at("2026-01-01T00:00:00.2Z"))
        #expect(firings == [Firing(instant: Self.at("2026-01-01T00:00:00Z"), catchup: false)])
    }

    @Test("@every instants are multiples of the interval since 1970")
    func every() throws {
        let e = try Self.entry("@every 90s")
        let (firings, _) = SchedulePlanner.due(e, watermark: Self.at("2026-01-01T00:00:00Z"), now: Self.at("2026-01-01T00:01:31Z"))
        #expect(firings == [Firing(instant: Self.at("2026-01-01T00:01:30Z"), catchup: false)])
    }

    @Test("@reboot is never due from the planner")
    func reboot() throws {
        let e = try Self.entry("@reboot")
        #expect(SchedulePlanner.nextDue(e, watermark: Self.at("2026-01-01T00:00:00Z")) == nil)
        #expect(SchedulePlanner.due(e, watermark: Self.at("2026-01-01T00:00:00Z"), now: Self.at("2026-06-01T00:00:00Z")).firings.isEmpty)
    }
}
