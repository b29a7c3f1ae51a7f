// ConnectionTableTests.swift: the connection limit as a value: who comes in, who makes room, what is logged.
import Testing
@testable import TideDaemon

@Suite("ConnectionTable")
struct ConnectionTableTests {
    @Test("below the limit everyone comes in; at it, the oldest quiet connection makes room")
    func evictsOldestQuiet() {
        var table = ConnectionTable<String>(limit: 3)
        var ids: [Int] = []
        for name in ["a", "b", "c"] {
            guard case (.accept(let id), false) = table.open(name) else { Issue.record("\(name) refused"); return }
            ids.append(id)
        }
        let served = table.requested(ids[0])  // a is active; b is the oldest quiet one
        #expect(served)
        guard case (.acceptEvicting(_, let evicted), true) = table.open("d") else { Issue.record("d not admitted"); return }
        #expect(evicted == "b")
        let evictedServed = table.requested(ids[1])
        #expect(!evictedServed, "an evicted connection must not be served")
        guard case (.acceptEvicting(_, let next), false) = table.open("e") else { Issue.record("e not admitted"); return }
        #expect(next == "c", "warned once per episode")
        #expect(table.count == 3)
    }

    @Test("when every connection is active, a new one is refused; the episode ends, with its counts, at three quarters")
    func refusesWhenAllActive() {
        var table = ConnectionTable<Int>(limit: 4)
        let ids = (0..<4).compactMap { n -> Int? in
            guard case (.accept(let id), _) = table.open(n) else { return nil }
            _ = table.requested(id)
            return id
        }
        #expect(ids.count == 4)
        guard case (.refuse, true) = table.open(9), case (.refuse, false) = table.open(10) else {
            Issue.record("not refused, or warned twice")
            return
        }
        let ended = table.closed(ids[0])
        #expect(ended == .init(refused: 2, evicted: 0), "down to 3 of 4: the episode ends")
        let none = table.closed(ids[1])
        #expect(none == nil, "no episode to end")
        guard case (.accept, false) = table.open(11), case (.accept, false) = table.open(12), case (.acceptEvicting, true) = table.open(13) else {
            Issue.record("a new episode should warn again")
            return
        }
    }
}
