// PluginLoaderTests.swift: the plugins folder as PluginFolder reads it, validation by PluginLoader,
// and the load limit of plugins inside runs (the shim's __tide_limited), in-process.
import Foundation
import Testing
import TideEngine
import TideProtocol

/// A temporary home with the given files (relative paths), removed afterwards.
private func withHome<T>(_ files: [String: String], _ body: (String) async throws -> T) async throws -> T {
    let home = NSTemporaryDirectory() + "tide-plugins-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: home) }
    for (name, text) in files {
        let path = home + "/" + name
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }
    try FileManager.default.createDirectory(atPath: home + "/plugins", withIntermediateDirectories: true)
    return try await body(home)
}

/// Runs `source` with `home`'s plugins on the module path.
private func runWithPlugins(_ source: String, home: String, limits: EngineLimits = EngineLimits()) async -> RunOutcome {
    let request = RunRequest(script: FlowScript(path: "flows/t.lua", source: source), runID: "run_test", plugins: home + "/plugins")
    return await execute(request, limits: limits)
}

@Suite("plugins folder and validation")
struct PluginLoaderTests {
    @Test("scan: the three forms, namespaces, misnamed files, hidden and other files, broken links")
    func scan() async throws {
        try await withHome([
            "plugins/a.lua": "return {}",
            "plugins/b/init.lua": "return {}",
            "plugins/c.so": "not really",
            "plugins/lib/util.lua": "return {}",  // a namespace, not a plugin
            "plugins/x.lua": "return {}",
            "plugins/x/init.lua": "return {}",
            "plugins/a.b.lua": "return {}",
            "plugins/.hidden.lua": "return {}",
            "plugins/README.md": "#",
        ]) { home in
            try FileManager.default.createSymbolicLink(atPath: home + "/plugins/gone.so", withDestinationPath: "/nonexistent/gone.so")
            let (candidates, problems) = PluginFolder.scan(home + "/plugins")
            #expect(candidates == [
                PluginCandidate(name: "a", files: ["plugins/a.lua"]),
                PluginCandidate(name: "b", files: ["plugins/b/init.lua"]),
                PluginCandidate(name: "c", files: ["plugins/c.so"]),
                PluginCandidate(name: "x", files: ["plugins/x.lua", "plugins/x/init.lua"]),
            ])
            #expect(problems.map(\.file).sorted() == ["plugins/a.b.lua", "plugins/gone.so"], "\(problems)")
            #expect(problems.first { $0.file == "plugins/gone.so" }?.message.contains("/nonexistent/gone.so, which does not exist") == true)
        }
    }

    @Test("check(file:): plugins, modules inside a plugin's folder, files outside plugins/")
    func checkFile() async throws {
        try await withHome(["plugins/a.lua": "return {}"]) { home in
            let folder = home + "/plugins"
            func candidate(_ file: String) -> PluginCandidate? {
                if case .success(let c)? = PluginFolder.check(file: folder + "/" + file, in: folder) { return c }
                return nil
            }
            #expect(candidate("a.lua") == PluginCandidate(name: "a", files: ["plugins/a.lua"]))
            #expect(candidate("kit/init.lua")?.name == "kit")
            #expect(candidate("kit/util.lua")?.name == "kit.util")
            if case .failure(let problem)? = PluginFolder.check(file: folder + "/a.b.lua", in: folder) {
                #expect(problem.message.contains("not a plugin"))
            } else {
                Issue.record("a.b.lua is not a plugin")
            }
            #expect(PluginFolder.check(file: home + "/flows/f.lua", in: folder) == nil)
        }
    }

    @Test("validate: descriptions of the good, file:line errors of the bad, settings problems")
    func validate() async throws {
        try await withHome([
            "plugins/good.lua": #"return { version = "2.0", description = "fine", setup = function(c) end }"#,
            "plugins/plain.lua": "return function() end",
            "plugins/bad.lua": "return {\n",
            "plugins/misnamed.lua": #"return { name = "other" }"#,
            "plugins/lpeg_like.lua": "return { version = function() return '1.1' end, _VERSION = '1.1.0' }",
            "plugins.json": #"{"good": {"a": 1}, "ghost": {}}"#,
        ]) { home in
            let report = PluginLoader.validate(plugins: home + "/plugins")
            #expect(report.hasSettings)
            #expect(report.plugins.map(\.name) == ["good", "lpeg_like", "plain"])
            #expect(report.plugins[0] == PluginInfo(name: "good", file: "plugins/good.lua", kind: "lua", version: "2.0",
                                                    description: "fine", hasSetup: true, configured: true))
            #expect(report.plugins[1].version == "1.1.0", "a non-string version is not metadata; _VERSION is")
            #expect(report.plugins[2] == PluginInfo(name: "plain", file: "plugins/plain.lua"))
            let messages = Dictionary(uniqueKeysWithValues: report.problems.map { ($0.file, $0.message) })
            #expect(messages["plugins/bad.lua"]?.hasPrefix("plugins/bad.lua:2:") == true, "\(messages)")
            #expect(messages["plugins/misnamed.lua"]?.contains(#"declares name = "other" but is required as "misnamed""#) == true, "\(messages)")
            #expect(messages["plugins.json"]?.contains("settings for 'ghost'") == true, "\(messages)")
            #expect(report.failed.keys.sorted() == ["bad", "misnamed"])
        }
    }

    @Test("plugins.json: an entry that is not an object fails its plugin's setup, naming the entry")
    func settingsEntryNotAnObject() async throws {
        try await withHome([
            "plugins/conf.lua": "return { setup = function(c) end }",
            "plugins/list.lua": "return { setup = function(c) end }",
            "plugins.json": #"{"conf": "https://example.com/hook", "list": [1]}"#,
        ]) { home in
            let report = PluginLoader.validate(plugins: home + "/plugins")
            let messages = Dictionary(uniqueKeysWithValues: report.problems.map { ($0.file, $0.message) })
            #expect(messages["plugins/conf.lua"]?.contains("plugins.json: the entry for 'conf' must be an object of settings") == true, "\(messages)")
            #expect(messages["plugins/conf.lua"]?.hasSuffix("not a string") == true, "\(messages)")
            #expect(messages["plugins/list.lua"]?.hasSuffix("not a list") == true, "\(messages)")
        }
    }

    @Test("setup errors read file:line first, then what failed")
    func setupErrorFileFirst() async throws {
        try await withHome([
            "plugins/strict.lua": "return { setup = function(c)\n  error('no url')\nend }",
            "plugins/quiet.lua": "return { setup = function(c) error({}) end }",
        ]) { home in
            let report = PluginLoader.validate(plugins: home + "/plugins")
            let messages = Dictionary(uniqueKeysWithValues: report.problems.map { ($0.file, $0.message) })
            #expect(messages["plugins/strict.lua"] == "plugins/strict.lua:2: setup(config) failed: no url", "\(messages)")
            #expect(messages["plugins/quiet.lua"]?.hasPrefix("plugins/quiet.lua: setup(config) failed: ") == true, "\(messages)")
        }
    }

    @Test("modules below the top level are compiled, not run: a syntax error is a problem of its module name")
    func modulesCompiled() async throws {
        try await withHome([
            "plugins/lib/util.lua": "local M = {}\nM. = 1\nreturn M",
            "plugins/lib/ok.lua": "error('runs only when required')",
            "plugins/tool/init.lua": "return {}",
            "plugins/tool/helpers/init.lua": "return {",
            "plugins/.hidden/broken.lua": "return {",
        ]) { home in
            let report = PluginLoader.validate(plugins: home + "/plugins")
            #expect(report.plugins.map(\.name) == ["tool"])
            #expect(report.problems.map(\.file) == ["plugins/lib/util.lua", "plugins/tool/helpers/init.lua"], "\(report.problems)")
            #expect(report.failed["lib.util"]?.hasPrefix("plugins/lib/util.lua:2:") == true, "\(report.failed)")
            #expect(report.failed["tool.helpers"] != nil, "\(report.failed)")
        }
    }

    @Test("a run's own timeout, shorter than the load limit, still stops a plugin that loops at load")
    func runTimeoutStaysInCharge() async throws {
        try await withHome(["plugins/spin.lua": "while true do end"]) { home in
            let outcome = await runWithPlugins(#"flow { name = "t", timeout = "300ms", run = function() return require "spin" end }"#, home: home)
            #expect(outcome.status == .failed)
            // the run's timeout, not the plugin's 2 s limit (which says "loading took longer than 2 s")
            #expect(outcome.errorCode == "timeout", "\(outcome.errorMessage)")
            #expect(outcome.errorMessage == "run timed out after 300ms")
        }
    }

    @Test("after a plugin's load limit stopped it, the run goes on: its own deadline is back and not marked hit")
    func runContinuesAfterPluginStopped() async throws {
        try await withHome(["plugins/spin.lua": "while true do end"]) { home in
            var limits = EngineLimits()
            limits.loadTime = 0.2
            let outcome = await runWithPlugins("""
                flow { name = "t", timeout = "30s", run = function()
                  local ok, e = pcall(require, "spin")
                  sleep("50ms")                      -- the run still waits and wakes normally
                  local n = 0
                  for i = 1, 3e6 do n = n + 1 end    -- and computes without being stopped
                  return { ok = ok, stopped = tostring(e):find("loading took longer than 0.2 s") ~= nil, n = n }
                end }
                """, home: home, limits: limits)
            #expect(outcome.status == .succeeded, "\(outcome.errorMessage)")
            #expect(outcome.value == ["ok": false, "stopped": true, "n": 3_000_000])
        }
    }

    @Test("cancelling a run while a plugin loops at load cancels it (the cancel is not turned into a load error)")
    func cancelDuringPluginLoad() async throws {
        try await withHome(["plugins/spin.lua": "while true do end"]) { home in
            let request = RunRequest(script: FlowScript(path: "flows/t.lua", source: #"flow { name = "t", run = function() return require "spin" end }"#),
                                     runID: "run_test", plugins: home + "/plugins")
            let outcome = await withTaskGroup(of: RunOutcome?.self) { group in
                group.addTask { await execute(request) }
                try? await Task.sleep(for: .milliseconds(300))
                group.cancelAll()
                return await group.next()!!
            }
            #expect(outcome.status == .cancelled, "\(outcome.status) \(outcome.errorMessage)")
            #expect(!outcome.errorMessage.contains("loading took longer"), "\(outcome.errorMessage)")
        }
    }
}
