// FlowRegistry.swift: the flows a home serves, reloaded in batches with validation before the swap.
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
///
/// A reload reads what changed on disk into a ``ReloadBatch`` (loading, in parallel, only the
/// files whose bytes changed) and swaps in ``FlowTable/applying(_:)`` of it at once.
public final class FlowRegistry: Sendable {
    fileprivate struct State {
        var table = FlowTable()
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
    private let now: @Sendable () -> Double
    private let state = Mutex(State())
    private let listeners = Mutex<[@Sendable () -> Void]>([])

    /// Creates an empty registry for `home`; `now` (seconds since the epoch) dates the errors.
    public init(home: String, limits: EngineLimits = EngineLimits(), logger: Logger,
                now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.home = home
        self.flowsFolder = home + "/flows"
        self.plugins = home + "/plugins"
        self.limits = limits
        self.logger = logger
        self.now = now
    }

    // MARK: - Lookups

    /// The flow called `name`.
    public func flow(named name: String) -> LoadedFlow? {
        state.withLock { s in
            guard let path = s.table.owners[name], let file = s.table.files[path], let serving = file.serving,
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
            for (path, file) in s.table.files.sorted(by: { $0.key < $1.key }) {
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
    /// `paths` is nil. A file is loaded again only when its bytes changed, or with `force`
    /// (after a plugin changed, or on `tide reload`). A rescan validates the plugins first, when
    /// something under `plugins/` (or `plugins.json`) changed or with `force`; when what they
    /// offer changed, every flow is loaded again. Returns the paths whose flows or errors changed.
    @discardableResult
    public func reload(paths: Set<String>?, force: Bool = false) -> [String] {
        var force = force
        if paths == nil, refreshPlugins(force: force) { force = true }
        let known = state.withLock { $0.table.files }
        var targets: [FlowFolder.Entry]
        if let paths {
            targets = paths.filter { $0.hasSuffix(".lua") }.sorted().map { FlowFolder.Entry(path: relative($0), absolute: $0) }
        } else {
            targets = listScripts()
            // files that vanished since the last scan
            let listed = Set(targets.map(\.path))
            for path in known.keys.sorted() where !listed.contains(path) {
                targets.append(FlowFolder.Entry(path: path, absolute: home + "/" + path))
            }
        }
        var batch = ReloadBatch(time: isoTimestamp(now()))
        var loads: [(path: String, bytes: Data, signature: FileSignature, digest: Int)] = []
        for target in targets {
            let previous = known[target.path]
            guard let absolute = target.absolute else {
                // a name that is not UTF-8: nothing to load, one error until it is renamed
                if previous == nil { batch.changes[target.path] = .failed(Self.badName(target.path), nil, digest: nil) }
                continue
            }
            guard let signature = Self.signature(absolute) else {
                if previous != nil { batch.changes[target.path] = .removed }
                continue
            }
            // (a file that could not be read has no digest: read it again, its mode may be fixed)
            if !force, let previous, previous.signature == signature, previous.digest != nil { continue }
            let bytes: Data
            switch Self.readFile(absolute) {
            case .success(let data):
                bytes = data
            case .failure(let reason):
                batch.changes[target.path] = .failed("\(target.path): cannot read the file: \(reason) (check its mode and owner)", signature, digest: nil)
                continue
            }
            let digest = Self.digest(bytes)
            if !force, let previous, previous.digest == digest {
                batch.changes[target.path] = .same(signature, digest: digest)
                continue
            }
            loads.append((target.path, bytes, signature, digest))
        }
        let failedPlugins = state.withLock { $0.plugins.failed }
        let outcomes = ParallelLoads.run(loads.count) { [loads, plugins, limits] i -> ReloadBatch.Change in
            let load = loads[i]
            do throws(EngineError) {
                let script = try FlowScript(data: load.bytes, path: load.path)
                let flows = try FlowLoader.definitions(of: script, plugins: plugins, failedPlugins: failedPlugins, limits: limits)
                return .loaded(FlowVersion(script: script, flows: flows), load.signature, digest: load.digest)
            } catch {
                return .failed(error.message, load.signature, digest: load.digest)
            }
        }
        for (load, outcome) in zip(loads, outcomes) { batch.changes[load.path] = outcome }

        let (before, after, changed) = state.withLock { s in
            let before = s.table
            let (next, changed) = s.table.applying(batch)
            s.table = next
            if !changed.isEmpty { s.invalidate() }
            s.reloads += 1
            return (before, next, changed)
        }
        log(changed, before: before, after: after)
        RunExecutor.releaseFreeMemory()  // the Lua states of the loads are gone
        if !changed.isEmpty {
            for listener in listeners.withLock({ $0 }) { listener() }
        }
        return changed
    }

    /// Every `*.lua` under `flows/`, recursively (hidden files and folders skipped), names that
    /// are not UTF-8 included.
    func listScripts() -> [FlowFolder.Entry] {
        FlowFolder.scripts(in: flowsFolder, shownAs: "flows")
    }

    private func relative(_ absolute: String) -> String {
        absolute.hasPrefix(home + "/") ? String(absolute.dropFirst(home.count + 1)) : absolute
    }

    static func badName(_ path: String) -> String {
        "\(path): the file name is not valid UTF-8 (its bad bytes are shown as \\xNN), so tide does not load it; rename it to a UTF-8 name"
    }

    private func log(_ changed: [String], before: FlowTable, after: FlowTable) {
        for path in changed {
            guard let file = after.files[path] else {
                let flows = before.files[path]?.flows.map(\.name) ?? []
                logger.info("removed", metadata: ["file": "\(path)", "flows": "\(flows.joined(separator: ","))"])
                continue
            }
            if let error = file.error {
                if before.files[path]?.error != error {
                    logger.error("reload failed, previous version kept", metadata: ["file": "\(path)", "error": "\(error.error)"])
                }
            } else {
                logger.info("loaded", metadata: ["file": "\(path)", "flows": "\(file.flows.map(\.name).joined(separator: ","))"])
            }
        }
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
        let time = now()
        state.withLock { s in
            if s.plugins.update(report, signature: signature, now: time) { s.invalidate() }
        }
        return true
    }

    /// The bytes of a file, or why they cannot be read.
    static func readFile(_ path: String) -> Result<Data, ReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadFailure(errno)) }
        defer { close(fd) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(errno))
            }
            if count == 0 { return .success(data) }
            data.append(contentsOf: chunk[..<count])
        }
    }

    /// Why a file could not be read: `strerror` of its errno.
    struct ReadFailure: Error, CustomStringConvertible {
        var description: String
        init(_ code: Int32) { description = String(cString: strerror(code)) }
    }

    /// A digest of a file's bytes, to tell a changed file from one saved unchanged.
    static func digest(_ bytes: Data) -> Int {
        var hasher = Hasher()
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        hasher.combine(bytes.count)
        return hasher.finalize()
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
