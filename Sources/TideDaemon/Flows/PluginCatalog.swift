// PluginCatalog.swift: the plugins of a home as the daemon last validated them.
import Foundation
import TideEngine
import TideProtocol

/// The validated state of a home's `plugins/` folder and `plugins.json`.
///
/// Every plugin is loaded in a fresh Lua state, as a flow's `require` loads it (with the same
/// load limit), whenever anything under `plugins/` or `plugins.json` changed. Flows that require
/// a plugin found failing are told its error at once, without loading it again: a plugin that
/// loops at load costs one load limit per reload, not one per flow.
///
/// Unlike a flow, a failing plugin has no previous version serving: `require` reads the file
/// that is on disk, so runs see what the catalog sees.
struct PluginCatalog: Sendable {
    /// What was validated: every file's signature under `plugins/`, and `plugins.json`'s.
    private var signature: [String: FileSignature]?
    private(set) var report = PluginReport(plugins: [], problems: [], hasSettings: false)
    /// When each current problem was first seen (by file and message).
    private var since: [String: String] = [:]

    /// The failing plugins by name with their errors, for flow loads.
    var failed: [String: String] { report.failed }

    /// The plugins of `home` now, with their signatures; compare with ``needsRefresh(_:)``.
    static func signature(home: String) -> [String: FileSignature] {
        var out: [String: FileSignature] = [:]
        let folder = URL(fileURLWithPath: home + "/plugins").resolvingSymlinksInPath().path
        if let walker = FileManager.default.enumerator(atPath: folder) {
            while let item = walker.nextObject() as? String {
                if let s = FlowRegistry.signature(folder + "/" + item) { out[item] = s }
            }
        }
        if let s = FlowRegistry.signature(home + "/plugins.json") { out["../plugins.json"] = s }
        return out
    }

    /// Whether files changed since the last validation (always true before the first).
    func needsRefresh(_ current: [String: FileSignature]) -> Bool {
        signature != current
    }

    /// Stores a new validation; returns whether its result differs from the last one.
    mutating func update(_ report: PluginReport, signature: [String: FileSignature], now: Double) -> Bool {
        self.signature = signature
        var kept: [String: String] = [:]
        for problem in report.problems {
            let key = problem.file + "\n" + problem.message
            kept[key] = since[key] ?? isoTimestamp(now)
        }
        since = kept
        let changed = report != self.report
        self.report = report
        return changed
    }

    /// The plugin errors as `flows.list` shows failed files.
    var errors: [FileError] {
        report.problems.map { p in
            FileError(file: p.file, error: p.message, since: since[p.file + "\n" + p.message] ?? isoTimestamp(Date().timeIntervalSince1970))
        }
    }

    /// The answer of `plugins.list`.
    var list: PluginsList {
        PluginsList(plugins: report.plugins, errors: errors, settings: report.hasSettings ? "plugins.json" : nil)
    }
}
