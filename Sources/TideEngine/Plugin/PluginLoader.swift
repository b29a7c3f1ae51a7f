// PluginLoader.swift: validates plugins the way flows load them, each in a fresh Lua state.
import Foundation
import LuaBridge
import TideProtocol

/// What validating a home's plugins found.
public struct PluginReport: Sendable, Equatable {
    /// The plugins that load, by name.
    public var plugins: [PluginInfo]
    /// Plugins that fail, misnamed files, and problems of `plugins.json`.
    public var problems: [PluginProblem]
    /// Whether the home has a `plugins.json`.
    public var hasSettings: Bool

    /// Creates a report.
    public init(plugins: [PluginInfo], problems: [PluginProblem], hasSettings: Bool) {
        self.plugins = plugins
        self.problems = problems
        self.hasSettings = hasSettings
    }

    /// The failing plugins by name, with their errors: what flows that require them are told.
    public var failed: [String: String] {
        var out: [String: String] = [:]
        for problem in problems {
            if let name = problem.name, out[name] == nil { out[name] = problem.message }
        }
        return out
    }
}

/// Loads plugins as `require` does in a flow (the same searcher, load limit, settings and
/// `setup(config)`), one fresh Lua state per plugin, and reads their metadata.
public enum PluginLoader {
    /// The settings file of the home whose plugins folder is `plugins` (`HOME/plugins.json`).
    public static func settingsFile(of plugins: String) -> String {
        (plugins as NSString).deletingLastPathComponent + "/plugins.json"
    }

    /// Loads `candidate` in a fresh state and returns its description, or the error a flow
    /// requiring it would get (with the plugin's `file:line`).
    public static func describe(_ candidate: PluginCandidate, plugins: String, limits: EngineLimits = EngineLimits()) throws(EngineError) -> PluginInfo {
        let scheduler = try Scheduler(memoryLimit: limits.memory, clock: SystemClock(), observer: NullObserver())
        try scheduler.prepare(plugins: plugins, limits: limits)
        let vm: LuaVM = scheduler.vm
        let watchdog = Watchdog.shared
        watchdog.register(vm.preemption)
        defer { watchdog.unregister(vm.preemption) }
        // a backstop only: require limits the plugin itself to the load time
        let file = candidate.files.first ?? "plugins/\(candidate.name)"
        vm.preemption.setDeadline(luaMonotonicNow() &+ UInt64((limits.loadTime + 1) * 1e9), message: "\(file): loading took too long")
        defer { vm.preemption.setDeadline(0, message: "") }
        let json: String
        do throws(LuaError) {
            let request = #"{"name":\#(jsonString(candidate.name)),"file":\#(jsonString(file))}"#
            try vm.call("__tide_plugin_describe", argument: request, results: 1)
            json = vm.main.string(at: -1) ?? "{}"
            vm.main.settop(0)
        } catch {
            throw EngineError(.load, error.code == .memory ? "\(file): not enough memory while loading (limit \(vm.memoryLimit >> 20) MiB)" : error.message)
        }
        _ = vm.preemption.takeStopped()
        do {
            return try JSONDecoder().decode(PluginInfo.self, from: Data(json.utf8))
        } catch {
            throw EngineError(.internal, "could not read the description of \(file): \(error)")
        }
    }

    /// Validates every plugin of `plugins` (a home's `plugins/` folder) and its `plugins.json`.
    public static func validate(plugins: String, limits: EngineLimits = EngineLimits()) -> PluginReport {
        let (candidates, misnamed) = PluginFolder.scan(plugins)
        var report = PluginReport(plugins: [], problems: misnamed,
                                  hasSettings: FileManager.default.fileExists(atPath: settingsFile(of: plugins)))
        for candidate in candidates {
            do {
                report.plugins.append(try describe(candidate, plugins: plugins, limits: limits))
            } catch {
                // listed like a flow's error, file first: "plugins/x.lua:3: ..."
                let prefix = "plugin '\(candidate.name)' failed to load: "
                let message = error.message.hasPrefix(prefix) ? String(error.message.dropFirst(prefix.count)) : error.message
                report.problems.append(PluginProblem(file: candidate.files[0], message: message, name: candidate.name))
            }
        }
        let listed = Set(candidates.flatMap(\.files) + misnamed.map(\.file))
        let modules = PluginFolder.modules(plugins).filter { !listed.contains($0) }
        if !modules.isEmpty {
            report.problems += moduleProblems(plugins: plugins, files: modules, limits: limits)
        }
        if report.hasSettings {
            let names = candidates.map(\.name) + misnamed.compactMap(\.name)
            for message in settingsProblems(plugins: plugins, names: names, limits: limits) {
                report.problems.append(PluginProblem(file: "plugins.json", message: message))
            }
        }
        return report
    }

    /// Syntax errors of modules that are not plugins of their own (`plugins/a/b.lua`, required
    /// as `a.b`), compiled without running them: what they do when they run is the requiring
    /// flow's business, but a file that cannot compile is listed like a failing plugin.
    static func moduleProblems(plugins: String, files: [String], limits: EngineLimits) -> [PluginProblem] {
        struct Problem: Decodable { var file: String; var message: String }
        do {
            let scheduler = try Scheduler(memoryLimit: limits.memory, clock: SystemClock(), observer: NullObserver())
            try scheduler.prepare(plugins: plugins, limits: limits)
            let vm: LuaVM = scheduler.vm
            try vm.call("__tide_plugin_compile", argument: "[" + files.map(jsonString).joined(separator: ",") + "]", results: 1)
            let text = vm.main.string(at: -1) ?? "[]"
            vm.main.settop(0)
            let problems = (try? JSONDecoder().decode([Problem].self, from: Data(text.utf8))) ?? []
            return problems.map { p in
                PluginProblem(file: p.file, message: p.message, name: PluginFolder.moduleName(ofFile: p.file))
            }
        } catch {
            return [PluginProblem(file: "plugins/", message: "plugins/: modules could not be checked: \(error)")]
        }
    }

    /// Problems of `plugins.json`: unreadable, not an object, or an entry for no plugin.
    static func settingsProblems(plugins: String, names: [String], limits: EngineLimits) -> [String] {
        do {
            let scheduler = try Scheduler(memoryLimit: limits.memory, clock: SystemClock(), observer: NullObserver())
            try scheduler.prepare(plugins: plugins, limits: limits)
            let vm: LuaVM = scheduler.vm
            let list = "[" + names.map(jsonString).joined(separator: ",") + "]"
            try vm.call("__tide_plugin_settings", argument: list, results: 1)
            let text = vm.main.string(at: -1) ?? "[]"
            vm.main.settop(0)
            return (try? JSONDecoder().decode([String].self, from: Data(text.utf8))) ?? []
        } catch {
            return ["plugins.json: could not be checked: \(error)"]
        }
    }
}
