// FlowState.swift: a Lua state with the prelude and one script loaded.
import TideProtocol
import Foundation
import LuaBridge
import TideLua

/// Limits of loading and running flows.
public struct EngineLimits: Sendable {
    /// Per-run memory unless the flow sets `memory` (SPEC §3.6: 256 MiB).
    public var memory = 256 << 20
    /// How long a script's top level may run when it is loaded (SPEC §4: 2 s).
    public var loadTime: Double = 2
    /// Bytes kept of each subprocess output stream.
    public var captureLimit = 1 << 20
    /// How long cleanup (compensations, on_failure) may take after a run timed out or was
    /// cancelled, when the flow has no `timeout` of its own.
    public var cleanupTime: Double = 300

    /// The defaults of the specification.
    public init() {}
}

extension Scheduler {
    /// Loads the prelude and `script` (its top level runs once, within the load time limit) and
    /// returns the script's flows.
    /// With `describe` false the script's flows are not read back (the caller knows them) and
    /// the result is empty.
    /// `failedPlugins` (name: error) are the plugins the daemon found failing: requiring one
    /// fails at once with that error instead of loading it again.
    func load(_ script: FlowScript, plugins: String?, failedPlugins: [String: String] = [:], limits: EngineLimits,
              describe: Bool = true) throws(EngineError) -> [FlowDefinition] {
        try prepare(plugins: plugins, failedPlugins: failedPlugins, limits: limits)
        let watchdog = Watchdog.shared
        watchdog.register(vm.preemption)
        defer { watchdog.unregister(vm.preemption) }
        let limitText = limits.loadTime == limits.loadTime.rounded() ? "\(Int(limits.loadTime)) s" : "\(limits.loadTime) s"
        vm.preemption.setDeadline(luaMonotonicNow() &+ UInt64(limits.loadTime * 1e9), message: "\(script.path): loading took longer than \(limitText) (an endless loop at the top level?)")
        defer { vm.preemption.setDeadline(0, message: "") }
        do {
            try vm.run(script.source, chunkName: "@" + script.path)
        } catch {
            throw EngineError(.load, error.code == .memory ? "\(script.path): not enough memory while loading (limit \(vm.memoryLimit >> 20) MiB)" : error.message)
        }
        if vm.preemption.takeStopped().contains(.deadline) {
            // the top level caught the stop and went on: it still ran past the load limit
            throw EngineError(.load, "\(script.path): loading took longer than \(limitText) (an endless loop at the top level?)")
        }
        guard describe else { return [] }
        let json: String
        do {
            try vm.call("__tide_describe", argument: script.baseName, results: 1)
            json = vm.main.string(at: -1) ?? "[]"
            vm.main.settop(0)
        } catch {
            throw EngineError(.load, error.message)
        }
        do {
            return try JSONDecoder().decode([FlowDefinition].self, from: Data(json.utf8))
        } catch {
            throw EngineError(.internal, "could not read the flow definitions: \(error)")
        }
    }
}

extension Scheduler {
    /// Loads the prelude and sets the module path: the home's `plugins/` (when given), its
    /// settings file `plugins.json` beside it, the load limit of plugins, the failing plugins.
    func prepare(plugins: String?, failedPlugins: [String: String] = [:], limits: EngineLimits) throws(EngineError) {
        do {
            try vm.run(EmbeddedLua.prelude, chunkName: "=prelude")
        } catch {
            throw EngineError(.internal, "the prelude failed to load: \(error.message)")
        }
        var fields = [#""load_time":\#(JSONValue.double(limits.loadTime).jsonText)"#]
        if let plugins {
            fields.append(#""plugins":\#(jsonString(plugins))"#)
            fields.append(#""settings":\#(jsonString(PluginLoader.settingsFile(of: plugins)))"#)
        }
        if !failedPlugins.isEmpty {
            let failed = failedPlugins.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            fields.append(#""failed":{"# + failed.joined(separator: ",") + "}")
        }
        do {
            try vm.call("__tide_setup", argument: "{" + fields.joined(separator: ",") + "}", results: 0)
        } catch {
            throw EngineError(.internal, "could not set the module path: \(error.message)")
        }
    }
}

/// Loads and validates scripts without running them (`tide check`).
public enum FlowLoader {
    /// The flows `script` defines, or the load error (`file:line: message`).
    /// `failedPlugins` (name: error): plugins known to fail, which `require` then refuses at once.
    public static func definitions(of script: FlowScript, plugins: String? = nil, failedPlugins: [String: String] = [:],
                                   limits: EngineLimits = EngineLimits()) throws(EngineError) -> [FlowDefinition] {
        let scheduler = try Scheduler(memoryLimit: limits.memory, clock: SystemClock(), observer: NullObserver())
        let definitions = try scheduler.load(script, plugins: plugins, failedPlugins: failedPlugins, limits: limits)
        for definition in definitions {
            do {
                _ = try definition.parsedSchedules()
            } catch {
                throw EngineError(.load, "\(script.path):\(definition.line): flow '\(definition.name)': \(error)")
            }
        }
        return definitions
    }
}

/// A JSON string literal for `text`.
func jsonString(_ text: String) -> String {
    JSONValue.quoted(text)
}

/// tide's own Lua, compiled once per process.
enum EmbeddedLua {
    static let prelude: LuaBytecode = {
        var length = 0
        let source = tide_lua_prelude(&length)!
        return LuaBytecode(source: source, count: length, chunkName: "=prelude")!
    }()

    static let plugins: LuaBytecode = {
        var length = 0
        let source = tide_lua_plugins(&length)!
        return LuaBytecode(source: source, count: length, chunkName: "=plugins")!
    }()

    static let json: LuaBytecode = {
        var length = 0
        let source = tide_lua_json(&length)!
        return LuaBytecode(source: source, count: length, chunkName: "=json")!
    }()
}
