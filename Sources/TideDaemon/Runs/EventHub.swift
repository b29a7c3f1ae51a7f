// EventHub.swift: fans notifications out to subscribers (events.subscribe, run.logs follow, tide run).
import Synchronization
import TideProtocol

/// One notification: its method (`run.started`, `step.finished`, `run.log`, ...) and params.
public struct DaemonEvent: Sendable {
    public var method: String
    public var runID: String
    public var flow: String
    public var params: JSONValue

    /// Creates an event.
    public init(method: String, runID: String, flow: String, params: JSONValue) {
        self.method = method
        self.runID = runID
        self.flow = flow
        self.params = params
    }

    /// The notification message.
    public var message: JSONValue { RPCMessage.notification(method, params) }
}

/// Which events a subscriber receives.
public enum EventFilter: Sendable, Equatable {
    case all
    case flow(String)
    case run(String)

    func matches(runID: String, flow: String) -> Bool {
        switch self {
        case .all: true
        case .flow(let f): f == flow
        case .run(let r): r == runID
        }
    }
}

/// Delivers events to subscribers without ever blocking the publisher (a run's thread).
///
/// Each subscriber has a queue of `bufferLimit` events; one that falls further behind is ended
/// (its stream finishes and ``Subscription/overflowed`` is true) rather than slowing runs or
/// holding memory without bound. Readers check `overflowed` before each event, so what is still
/// queued is dropped at once instead of trickling out to a client that cannot keep up.
public final class EventHub: Sendable {
    private struct Subscriber {
        var filter: EventFilter
        var continuation: AsyncStream<DaemonEvent>.Continuation
        var overflow: Overflow
    }

    private struct State {
        var subscribers: [Int: Subscriber] = [:]
        var next = 0
    }

    /// Set when a subscriber lost events.
    final class Overflow: Sendable {
        let flag = Mutex(false)
    }

    /// A subscriber's stream of events; cancelling the subscription ends it.
    public struct Subscription: Sendable {
        public let events: AsyncStream<DaemonEvent>
        let overflow: Overflow
        let id: Int
        let hub: EventHub

        /// Whether events were dropped because the subscriber fell behind.
        public var overflowed: Bool { overflow.flag.withLock { $0 } }

        /// Stops delivery.
        public func cancel() { hub.remove(id) }
    }

    private let state = Mutex(State())
    /// The most events queued for one subscriber.
    public let bufferLimit: Int

    /// Creates a hub. 8,192 queued events are some seconds of a busy daemon's events and at most
    /// a few MB per subscriber.
    public init(bufferLimit: Int = 8192) {
        self.bufferLimit = bufferLimit
    }

    /// Subscribes to the events that `filter` matches, from now on.
    public func subscribe(_ filter: EventFilter) -> Subscription {
        let (stream, continuation) = AsyncStream.makeStream(of: DaemonEvent.self, bufferingPolicy: .bufferingOldest(bufferLimit))
        let overflow = Overflow()
        let id = state.withLock { s -> Int in
            s.next += 1
            s.subscribers[s.next] = Subscriber(filter: filter, continuation: continuation, overflow: overflow)
            return s.next
        }
        continuation.onTermination = { [weak self] _ in self?.remove(id) }
        return Subscription(events: stream, overflow: overflow, id: id, hub: self)
    }

    /// Whether anyone would receive an event of this run (so publishers can skip building it).
    public func wants(runID: String, flow: String) -> Bool {
        state.withLock { s in s.subscribers.values.contains { $0.filter.matches(runID: runID, flow: flow) } }
    }

    /// Delivers an event to every matching subscriber.
    public func publish(_ event: DaemonEvent) {
        let targets = state.withLock { s in
            s.subscribers.values.filter { $0.filter.matches(runID: event.runID, flow: event.flow) }
        }
        for target in targets {
            if case .dropped = target.continuation.yield(event) {
                target.overflow.flag.withLock { $0 = true }
                target.continuation.finish()
            }
        }
    }

    func remove(_ id: Int) {
        let removed = state.withLock { $0.subscribers.removeValue(forKey: id) }
        removed?.continuation.finish()
    }

    /// Subscribers now (for tests and status).
    public var count: Int { state.withLock { $0.subscribers.count } }
}
