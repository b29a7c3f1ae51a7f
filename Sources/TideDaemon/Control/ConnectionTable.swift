// ConnectionTable.swift: the control socket's connections against their limit (a value state machine).
import DequeModule

/// Which connections the control server holds, and what a new one may do at the limit.
///
/// A connection is *quiet* from its accept until its first complete request, then *active*.
/// Below the limit every connection comes in. At the limit, the oldest quiet connection makes
/// room (it is closed with an error: a client that connects and sends nothing holds a place
/// nobody can use), and when all are active the new connection is refused. The first refusal or
/// closing of an episode at the limit asks for a warning; the episode ends, with its counts,
/// when the connections fall to three quarters of the limit, so a flood is logged twice, not
/// once per connection.
struct ConnectionTable<Handle: Sendable>: Sendable {
    enum Phase: Sendable { case quiet, active }

    /// What to do with a new connection.
    enum Admission: Sendable {
        /// Serve it under `id`.
        case accept(id: Int)
        /// Serve it under `id` after closing `evicted` (the oldest quiet connection).
        case acceptEvicting(id: Int, evicted: Handle)
        /// Refuse it: every place is taken by an active connection.
        case refuse
    }

    /// How many connections an episode at the limit refused and closed.
    struct Episode: Sendable, Equatable {
        var refused = 0
        var evicted = 0
    }

    let limit: Int
    private var entries: [Int: (handle: Handle, phase: Phase)] = [:]
    /// Ids of quiet connections, oldest first; may still hold ids that became active or closed.
    private var quiet = Deque<Int>()
    private var nextID = 0
    private var episode: Episode?

    init(limit: Int) {
        precondition(limit >= 1, "a connection limit below 1 serves nobody")
        self.limit = limit
    }

    /// Connections held now.
    var count: Int { entries.count }

    /// A new connection: whether it comes in, and whether to warn (the first refusal or closing
    /// of an episode).
    mutating func open(_ handle: Handle) -> (admission: Admission, warn: Bool) {
        nextID += 1
        let id = nextID
        guard entries.count >= limit else {
            admit(id, handle)
            return (.accept(id: id), false)
        }
        let warn = episode == nil
        var counts = episode ?? Episode()
        defer { episode = counts }
        while let oldest = quiet.popFirst() {
            guard let entry = entries[oldest], entry.phase == .quiet else { continue }
            entries[oldest] = nil
            admit(id, handle)
            counts.evicted += 1
            return (.acceptEvicting(id: id, evicted: entry.handle), warn)
        }
        counts.refused += 1
        return (.refuse, warn)
    }

    /// The connection sent its first complete request; false when it was closed to make room
    /// meanwhile (it must not be served).
    mutating func requested(_ id: Int) -> Bool {
        guard let entry = entries[id] else { return false }
        if entry.phase == .quiet { entries[id]?.phase = .active }
        return true
    }

    /// The connection ended; returns the episode at the limit that this ends, if one does.
    mutating func closed(_ id: Int) -> Episode? {
        entries[id] = nil
        if quiet.count > 2 * limit { quiet.removeAll { entries[$0]?.phase != .quiet } }  // keep the queue of stale ids short
        guard let ended = episode, entries.count <= limit * 3 / 4 else { return nil }
        episode = nil
        return ended
    }

    private mutating func admit(_ id: Int, _ handle: Handle) {
        entries[id] = (handle, .quiet)
        quiet.append(id)
    }
}
