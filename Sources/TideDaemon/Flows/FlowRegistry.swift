// FlowRegistry.swift: the flows a home serves, reloaded file by file with validation before the swap.
import Foundation
import Logging
import Synchronization
import TideEngine
import TideProtocol

/// A flow ready to run: its definition and the script version it comes from.
public struct LoadedFlow: Sendable {
    public var definition: FlowDefinition
    public var script: FlowScript
    /// The file's path as users see it.
    public var file: String
    /// The file's newest version failed to load; this is the previous one.
    public var stale: Bool
}

/// The flow scripts under a home's `flows/`, and the flows they define.
///
/// Each new version of a file is loaded in a fresh Lua state (its top level runs, within the
/// load time limit) before it replaces the old one; a failing version leaves the old one serving
/// and is reported. A flow's script is a value: runs that started keep the text they started with.
public final class FlowRegistry: Sendable {
    fileprivate struct State {
        var files: [String: FlowFile] = [:]
        var byName: [String: String] = [:]  // flow name -> file path
        var reloads = 0
        /// The last snapshot, until a file changes (runs read it on every finish, for `on`).
        var snapshot: (flows: [LoadedFlow], errors: [FileError])?
        /// Flows with an `on` trigger, until a file changes.
        var triggered: [LoadedFlow]?
        /// The plugins, as last validated.
        var plugins = PluginCatalog()
    }

    /// The home folder.
    public let home: String
    private let flowsFolder: String
    private let plugins: String
    private let limits: EngineLimits
    private let logger: Logger
    private let state = Mutex(State())
    private let listeners = Mutex<[@Sendable () -> Void]>([])

    /// Creates an empty registry for `home`.
    public init(home: String, limits: EngineLimits = EngineLimits(), logger: Logger) {
        self.home = home
        self.flowsFolder = home + "/flows"
        self.plugins = home + "/plugins"
        self.limits = limits
        self.logger = logger
    }

    // MARK: - Lookups

    /// The flow called `name`.
    public func flow(named name: String) -> LoadedFlow? {
        state.withLock { s in
            guard let path = s.byName[name], let file = s.files[path], let serving = file.serving,
                  let definition = serving.flows.first(where: { $0.name == name }) else { return nil }
            return LoadedFlow(definition: definition, script: serving.script, file: path, stale: file.error != nil)
        }
    }

    /// Every flow, by name, and the files whose newest version failed.
    public func snapshot() -> (flows: [LoadedFlow], errors: [FileError]) {
        state.withLock { s in
            if let cached = s.snapshot { return cached }
            var flows: [LoadedFlow] = []
            var errors: [FileError] = []
            for (path, file) in s.files.sorted(by: { $0.key < $1.key }) {
                if let error = file.error { errors.append(error) }
                guard let serving = file.serving else { continue }
                for definition in serving.flows {
                    flows.append(LoadedFlow(definition: definition, script: serving.script, file: path, stale: file.error != nil))
                }
            }
            errors += s.plugins.errors
            let snapshot = (flows.sorted { $0.definition.name < $1.definition.name }, errors)
            s.snapshot = snapshot
            return snapshot
        }
    }

    /// The flows that have an `on` event trigger.
    public func eventTriggered() -> [LoadedFlow] {
        if let cached = state.withLock({ $0.triggered }) { return cached }
        let flows = snapshot().flows.filter { $0.definition.on != nil }
        state.withLock { $0.triggered = flows }
        return flows
    }

    /// Calls `listener` after every reload that changed a flow (the scheduler re-plans).
    public func onChange(_ listener: @escaping @Sendable () -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    /// The plugins the last validation found failing, by name, with their errors.
    public func failedPlugins() -> [String: String] {
        state.withLock { $0.plugins.failed }
    }

    /// The plugins that load and the ones that fail (`plugins.list`).
    public func pluginList() -> PluginsList {
        state.withLock { $0.plugins.list }
    }

    /// How many reloads have completed (for tests and `daemon.status`).
    public var reloadCount: Int { state.withLock { $0.reloads } }

    // MARK: - Reloading (blocking: call off the cooperative pool)

    /// Reloads the given files (absolute paths under `flows/`), or rescans everything when
    /// `paths` is nil. With `force`, unchanged files are loaded again too (after a plugin
    /// changed, or on `tide reload`). A rescan validates the plugins first, when something under
    /// `plugins/` (or `plugins.json`) changed or with `force`; when what they offer changed,
    /// every flow is loaded again. Returns the paths whose flows changed or failed.
    @discardableResult
    public func reload(paths: Set<String>?, force: Bool = false) -> [String] {
        var force = force
        if paths == nil, refreshPlugins(force: force) { force = true }
        var targets: Set<String>
        if let paths {
            targets = Set(paths.filter { $0.hasSuffix(".lua") })
        } else {
            targets = Set(listScripts())
            // files that vanished since the last scan
            let known = state.withLock { Array($0.files.keys) }
            for path in known { targets.insert(home + "/" + path) }
        }
        var changed: [String] = []
        for absolute in targets.sorted() {
            if reloadFile(absolute, force: force) { changed.append(relative(absolute)) }
        }
        if !changed.isEmpty {
            // a failed file may have clashed with a flow that just moved or went away
            let failed = state.withLock { s in s.files.values.filter { $0.error != nil }.map(\.path) }
            for path in failed where !targets.contains(home + "/" + path) {
                if reloadFile(home + "/" + path, force: true) { changed.append(path) }
            }
        }
        state.withLock { $0.reloads += 1 }
        RunExecutor.releaseFreeMemory()  // the Lua states of the loads are gone
        if !changed.isEmpty {
            for listener in listeners.withLock({ $0 }) { listener() }
        }
        return changed
    }

    /// Every `*.lua` under `flows/`, recursively (hidden files and folders skipped).
    public func listScripts() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: flowsFolder) else { return [] }
        var out: [String] = []
        while let item = walker.nextObject() as? String {
            let name = (item as NSString).lastPathComponent
            if name.hasPrefix(".") {
                walker.skipDescendants()
                continue
            }
            if item.hasSuffix(".lua") { out.append(flowsFolder + "/" + item) }
        }
        return out.sorted()
    }

    private func relative(_ absolute: String) -> String {
        absolute.hasPrefix(home + "/") ? String(absolute.dropFirst(home.count + 1)) : absolute
    }

    /// Loads one file's newest version; true when its flows or error changed.
    private func reloadFile(_ absolute: String, force: Bool) -> Bool {
        let path = relative(absolute)
        guard let signature = Self.signature(absolute) else {
            return remove(path)
        }
        let previous = state.withLock { $0.files[path] }
        if !force, let previous, previous.signature == signature { return false }
        let outcome = load(absolute, path: path)
        return state.withLock { s -> Bool in
            var file = s.files[path] ?? FlowFile(path: path)
            let before = file
            switch outcome {
            case .success(let (script, flows)):
                // a name another file already serves is an error of this (the later) file
                if let clash = flows.first(where: { s.byName[$0.name].map { $0 != path } ?? false }) {
                    let message = "\(path):\(clash.line): flow '\(clash.name)' is already defined in \(s.byName[clash.name]!) (flow names are unique in a home)"
                    file.failed(FileError(file: path, error: message, since: isoTimestamp(Date().timeIntervalSince1970)), signature: signature)
                    logger.error("reload failed, previous version kept", metadata: ["file": "\(path)", "error": "\(message)"])
                } else {
                    for old in file.flows where s.byName[old.name] == path { s.byName[old.name] = nil }
                    file.loaded(script, flows: flows, signature: signature)
                    for flow in flows { s.byName[flow.name] = path }
                    logger.info("loaded", metadata: ["file": "\(path)", "flows": "\(flows.map(\.name).joined(separator: ","))"])
                }
            case .failure(let message):
                file.failed(FileError(file: path, error: message, since: isoTimestamp(Date().timeIntervalSince1970)), signature: signature)
                logger.error("reload failed, previous version kept", metadata: ["file": "\(path)", "error": "\(message)"])
            }
            s.files[path] = file
            if file != before { s.invalidate() }
            return file != before
        }
    }

    private func remove(_ path: String) -> Bool {
        state.withLock { s in
            guard let file = s.files.removeValue(forKey: path) else { return false }
            s.invalidate()
            for flow in file.flows where s.byName[flow.name] == path { s.byName[flow.name] = nil }
            logger.info("removed", metadata: ["file": "\(path)", "flows": "\(file.flows.map(\.name).joined(separator: ","))"])
            return true
        }
    }

    private enum LoadOutcome {
        case success((FlowScript, [FlowDefinition]))
        case failure(String)
    }

    /// Validates the plugins when they changed since the last time (or with `force`); true when
    /// it did (every flow is then loaded again: a flow's top level may read what a plugin holds).
    private func refreshPlugins(force: Bool) -> Bool {
        let signature = PluginCatalog.signature(home: home)
        guard force || state.withLock({ $0.plugins.needsRefresh(signature) }) else { return false }
        let report = PluginLoader.validate(plugins: plugins, limits: limits)
        for problem in report.problems {
            logger.error("plugin failed to load", metadata: ["file": "\(problem.file)", "error": "\(problem.message)"])
        }
        logger.info("plugins validated", metadata: [
            "plugins": "\(report.plugins.map(\.name).joined(separator: ","))", "failed": "\(report.problems.count)",
        ])
        state.withLock { s in
            if s.plugins.update(report, signature: signature, now: Date().timeIntervalSince1970) { s.invalidate() }
        }
        return true
    }

    private func load(_ absolute: String, path: String) -> LoadOutcome {
        do {
            let script = try FlowScript(contentsOf: absolute, displayPath: path)
            let failed = state.withLock { $0.plugins.failed }
            let flows = try FlowLoader.definitions(of: script, plugins: plugins, failedPlugins: failed, limits: limits)
            return .success((script, flows))
        } catch {
            return .failure(error.message)
        }
    }

    static func signature(_ path: String) -> FileSignature? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return FileSignature(
            size: Int64(info.st_size), modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            inode: UInt64(info.st_ino))
    }
}

extension FlowRegistry.State {
    mutating func invalidate() {
        snapshot = nil
        triggered = nil
    }
}
