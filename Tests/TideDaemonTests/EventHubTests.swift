// EventHubTests.swift: notifications reach the subscribers that asked for them, in order, never blocking.
import Testing
import TideDaemon
import TideProtocol

private func event(_ method: String, run: String = "r1", flow: String = "f") -> DaemonEvent {
    DaemonEvent(method: method, runID: run, flow: flow, params: .object(["run_id": .string(run)]))
}

@Suite("EventHub")
struct EventHubTests {
    @Test("filters by run and by flow; everything for .all")
    func filters() async {
        let hub = EventHub()
        let all = hub.subscribe(.all)
        let byRun = hub.subscribe(.run("r2"))
        let byFlow = hub.subscribe(.flow("g"))
        hub.publish(event("a", run: "r1", flow: "f"))
        hub.publish(event("b", run: "r2", flow: "f"))
        hub.publish(event("c", run: "r3", flow: "g"))
        #expect(hub.wants(runID: "r9", flow: "zzz"))  // .all wants everything
        all.cancel()
        byRun.cancel()
        byFlow.cancel()
        #expect(await all.events.map(\.method).collect() == ["a", "b", "c"])
        #expect(await byRun.events.map(\.method).collect() == ["b"])
        #expect(await byFlow.events.map(\.method).collect() == ["c"])
        #expect(hub.count == 0)
    }

    @Test("nobody listening: wants() is false, so runs skip building notifications")
    func wants() {
        let hub = EventHub()
        #expect(!hub.wants(runID: "r1", flow: "f"))
        let s = hub.subscribe(.run("r1"))
        #expect(hub.wants(runID: "r1", flow: "f"))
        #expect(!hub.wants(runID: "r2", flow: "f"))
        s.cancel()
        #expect(!hub.wants(runID: "r1", flow: "f"))
    }

    @Test("a subscriber that falls behind its buffer is ended and marked, the publisher never waits")
    func overflow() async {
        let hub = EventHub(bufferLimit: 3)
        let slow = hub.subscribe(.all)
        for i in 0..<10 { hub.publish(event("e\(i)")) }
        #expect(slow.overflowed)
        #expect(await slow.events.map(\.method).collect() == ["e0", "e1", "e2"])
        #expect(hub.count == 0)
    }
}

extension AsyncSequence where Self: Sendable {
    func collect() async -> [Element] where Element: Sendable {
        var out: [Element] = []
        do {
            for try await e in self { out.append(e) }
        } catch {}
        return out
    }
}
