// Messages.swift: the results of the control protocol's methods (SPEC §7), shared by daemon and client.

/// One flow as `flows.list` shows it.
public struct FlowInfo: Codable, Sendable, Equatable {
    public var name: String
    /// The script, relative to the home's `flows/`.
    public var file: String
    public var line: Int
    public var description: String?
    public var schedule: [String]?
    public var timezone: String?
    /// The next scheduled start (ISO 8601), when the flow has a schedule the daemon plans.
    public var nextStart: String?
    public var on: [String]?
    public var maxConcurrent: Int?
    public var running: Int
    public var queued: Int
    public var lastRun: RunSummary?
    /// The file's newest version failed to load; this flow is its previous version.
    public var stale: Bool

    /// Creates a flow entry.
    public init(name: String, file: String, line: Int, description: String? = nil, schedule: [String]? = nil,
                timezone: String? = nil, nextStart: String? = nil, on: [String]? = nil, maxConcurrent: Int? = nil,
                running: Int = 0, queued: Int = 0, lastRun: RunSummary? = nil, stale: Bool = false) {
        self.name = name
        self.file = file
        self.line = line
        self.description = description
        self.schedule = schedule
        self.timezone = timezone
        self.nextStart = nextStart
        self.on = on
        self.maxConcurrent = maxConcurrent
        self.running = running
        self.queued = queued
        self.lastRun = lastRun
        self.stale = stale
    }

    enum CodingKeys: String, CodingKey {
        case name, file, line, description, schedule, timezone, on, running, queued, stale
        case nextStart = "next_start", maxConcurrent = "max_concurrent", lastRun = "last_run"
    }
}

/// A file that failed to load, with its error (`file:line: message`).
public struct FileError: Codable, Sendable, Equatable {
    public var file: String
    public var error: String
    /// When the failing version was seen (ISO 8601).
    public var since: String

    /// Creates an entry.
    public init(file: String, error: String, since: String) {
        self.file = file
        self.error = error
        self.since = since
    }
}

/// The result of `flows.list` and `reload`.
public struct FlowsList: Codable, Sendable, Equatable {
    public var flows: [FlowInfo]
    public var errors: [FileError]

    /// Creates the list.
    public init(flows: [FlowInfo], errors: [FileError]) {
        self.flows = flows
        self.errors = errors
    }
}

/// One run in `runs.list` and in notifications.
public struct RunSummary: Codable, Sendable, Equatable {
    public var runID: String
    public var flow: String
    public var status: RunStatus
    public var trigger: String
    public var queuedAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var durationMilliseconds: Double?
    /// The error's message, for runs that did not succeed.
    public var error: String?
    /// The instant a scheduled (or caught-up) run was for, as `ctx.scheduled_at` gives it.
    public var scheduledAt: String?

    /// Creates a summary.
    public init(runID: String, flow: String, status: RunStatus, trigger: String, queuedAt: String, startedAt: String?,
                finishedAt: String?, durationMilliseconds: Double?, error: String?, scheduledAt: String? = nil) {
        self.scheduledAt = scheduledAt
        self.runID = runID
        self.flow = flow
        self.status = status
        self.trigger = trigger
        self.queuedAt = queuedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.durationMilliseconds = durationMilliseconds
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case flow, status, trigger, error
        case runID = "run_id", queuedAt = "queued_at", startedAt = "started_at", finishedAt = "finished_at"
        case durationMilliseconds = "duration_ms", scheduledAt = "scheduled_at"
    }
}

/// One line of a run's log on the wire.
public struct LogEntry: Codable, Sendable, Equatable {
    /// Position in the run's log, from 1.
    public var seq: Int
    public var time: String
    public var level: LogLine.Level
    public var message: String
    /// The step node the line was written in.
    public var node: Int?

    /// Creates an entry.
    public init(seq: Int, time: String, level: LogLine.Level, message: String, node: Int?) {
        self.seq = seq
        self.time = time
        self.level = level
        self.message = message
        self.node = node
    }
}

/// The result of `daemon.status`.
public struct DaemonStatus: Codable, Sendable, Equatable {
    public var version: String
    public var pid: Int
    public var home: String
    public var state: String
    public var socket: String
    public var startedAt: String
    public var uptimeSeconds: Double
    public var flows: Int
    public var failedFiles: Int
    public var running: Int
    public var queued: Int
    /// `inotify` or `polling`.
    public var watcher: String

    /// Creates a status.
    public init(version: String, pid: Int, home: String, state: String, socket: String, startedAt: String,
                uptimeSeconds: Double, flows: Int, failedFiles: Int, running: Int, queued: Int, watcher: String) {
        self.version = version
        self.pid = pid
        self.home = home
        self.state = state
        self.socket = socket
        self.startedAt = startedAt
        self.uptimeSeconds = uptimeSeconds
        self.flows = flows
        self.failedFiles = failedFiles
        self.running = running
        self.queued = queued
        self.watcher = watcher
    }

    enum CodingKeys: String, CodingKey {
        case version, pid, home, state, socket, flows, running, queued, watcher
        case startedAt = "started_at", uptimeSeconds = "uptime_s", failedFiles = "failed_files"
    }
}

/// The key-value store of flows (SPEC §3.5): small JSON values scoped to a flow.
public protocol KeyValueStore: Sendable {
    /// The JSON text stored under `key`, or nil.
    func get(flow: String, key: String) throws -> String?
    /// Stores JSON text under `key`.
    func set(flow: String, key: String, value: String) throws
    /// Removes `key`.
    func delete(flow: String, key: String) throws
}
