// RunRequest.swift: what to run.
import TideProtocol

/// A request to run one flow of a script.
public struct RunRequest: Sendable {
    public var script: FlowScript
    /// The flow's name; nil picks the script's only flow.
    public var flow: String?
    /// JSON text of the payload (an object or array); nil for `{}`.
    public var payload: String?
    public var runID: String
    /// `manual`, `schedule`, `catchup` or `event`.
    public var trigger: String
    /// ISO 8601 instant of a scheduled start.
    public var scheduledAt: String?
    /// JSON text of the triggering run's summary, for event triggers.
    public var event: String?
    /// The home's `plugins/` folder, put on the module path.
    public var plugins: String?
    /// Plugins the daemon's last validation found failing (name: error): `require` refuses them
    /// at once with that error instead of loading them again (a plugin that loops at load would
    /// cost every run the whole load limit).
    public var failedPlugins: [String: String]
    /// Where `kv.*` keeps values; nil keeps them in memory for this run only.
    public var keyValues: KeyValueStore?
    /// The flow's definition, when the caller loaded this very script before (the daemon):
    /// the run then skips describing the script's flows again.
    public var definition: FlowDefinition?

    /// Creates a request.
    public init(script: FlowScript, flow: String? = nil, payload: String? = nil, runID: String, trigger: String = "manual",
                scheduledAt: String? = nil, event: String? = nil, plugins: String? = nil, failedPlugins: [String: String] = [:],
                keyValues: KeyValueStore? = nil, definition: FlowDefinition? = nil) {
        self.script = script
        self.flow = flow
        self.payload = payload
        self.runID = runID
        self.trigger = trigger
        self.scheduledAt = scheduledAt
        self.event = event
        self.plugins = plugins
        self.failedPlugins = failedPlugins
        self.keyValues = keyValues
        self.definition = definition
    }
}

