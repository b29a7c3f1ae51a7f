// PluginSuites.swift: the end-to-end plugin suites, nested here so they run one test at a time.
import Testing

/// The plugin suites of this target (PluginTests, PluginDaemonTests, ShippedPluginTests,
/// NotifyHTTPTests). Serialized together: each test starts `tide` processes, some of which spin
/// for the 2 s load limit, and several at once starved the engine's timing tests on two cores.
@Suite("plugins end to end", .serialized)
enum PluginSuites {}
