// PluginCatalogTests.swift: the registry validates plugins before it loads flows, only when
// plugins/ or plugins.json changed, and tells flows about failing plugins (in-process, real files).
import Foundation
import Logging
import Testing
import TideDaemon
import TideProtocol

/// A temporary home with flows/ and plugins/.
private struct PluginHome {
    let path = NSTemporaryDirectory() + "tide-catalog-\(UUID().uuidString)"

    init() throws {
        for folder in ["flows", "plugins"] {
            try FileManager.default.createDirectory(atPath: path + "/" + folder, withIntermediateDirectories: true)
        }
    }

    func write(_ name: String, _ text: String) throws {
        let file = path + "/" + name
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }

    func registry() -> FlowRegistry {
        FlowRegistry(home: path, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }
}

@Suite("plugin validation in the registry")
struct PluginCatalogTests {
    @Test("plugins are validated with the first scan; their errors are listed with the flows' failed files")
    func firstScan() throws {
        let home = try PluginHome()
        defer { home.cleanup() }
        try home.write("plugins/good.lua", #"return { version = "1.0" }"#)
        try home.write("plugins/bad.lua", "error('nope')")
        try home.write("flows/a.lua", #"local g = require "good"; flow { run = function() end }"#)
        try home.write("flows/b.lua", #"local b = require "bad"; flow { run = function() end }"#)
        let r = home.registry()
        r.reload(paths: nil)
        let list = r.pluginList()
        #expect(list.plugins.map(\.name) == ["good"])
        #expect(list.errors.map(\.file) == ["plugins/bad.lua"])
        #expect(list.errors.first?.error == "plugins/bad.lua:1: nope")
        #expect(r.snapshot().flows.map(\.definition.name) == ["a"])
        let errors = r.snapshot().errors
        #expect(errors.map(\.file) == ["flows/b.lua", "plugins/bad.lua"])
        #expect(errors.first?.error.hasPrefix("flows/b.lua:1: plugin 'bad' failed to load: plugins/bad.lua:1: nope") == true, "\(errors)")
    }

    @Test("a rescan without changes under plugins/ does not validate again; a change does, and reloads every flow")
    func revalidateOnlyOnChange() throws {
        let home = try PluginHome()
        defer { home.cleanup() }
        try home.write("plugins/p.lua", "return { v = 1 }")
        try home.write("flows/a.lua", #"local p = require "p"; flow { run = function() end }"#)
        let r = home.registry()
        r.reload(paths: nil)
        let since = try #require(r.pluginList().plugins.first)
        #expect(since.version == nil)
        #expect(r.reload(paths: nil).isEmpty, "nothing changed")

        // the plugin breaks: validation notices, and the flow that requires it is loaded again
        try home.write("plugins/p.lua", "return {")
        let changed = r.reload(paths: nil)
        #expect(changed == ["flows/a.lua"])
        #expect(r.pluginList().errors.first?.file == "plugins/p.lua")
        #expect(r.flow(named: "a")?.stale == true)

        // fixed, with settings: setup sees them; plugins.json counts as a change of the plugins
        try home.write("plugins/p.lua", #"local M = { version = "2" }; function M.setup(c) assert(c.ok, "needs ok") end; return M"#)
        try home.write("plugins.json", #"{"p": {"ok": true}}"#)
        r.reload(paths: nil)
        #expect(r.pluginList().plugins.first?.version == "2")
        #expect(r.pluginList().plugins.first?.configured == true)
        #expect(r.pluginList().settings == "plugins.json")
        #expect(r.flow(named: "a")?.stale == false)
        try home.write("plugins.json", #"{"p": {"ok": false}}"#)
        r.reload(paths: nil)
        #expect(r.pluginList().errors.first?.error.contains("needs ok") == true, "\(r.pluginList())")
    }

    @Test("a misnamed plugins/a.b.lua is reported but does not block the module a.b of plugins/a/b.lua")
    func misnamedDoesNotBlock() throws {
        let home = try PluginHome()
        defer { home.cleanup() }
        try home.write("plugins/a.b.lua", "return { from = 'a.b.lua' }")
        try home.write("plugins/a/b.lua", "return { from = 'a/b.lua' }")
        try home.write("flows/f.lua", #"local m = require "a.b"; flow { description = m.from, run = function() end }"#)
        let r = home.registry()
        r.reload(paths: nil)
        #expect(r.pluginList().errors.map(\.file) == ["plugins/a.b.lua"])
        #expect(r.flow(named: "f")?.definition.description == "a/b.lua", "\(r.snapshot().errors)")
    }

    @Test("an error seen again keeps the time it was first seen")
    func sinceIsKept() throws {
        let home = try PluginHome()
        defer { home.cleanup() }
        try home.write("plugins/bad.lua", "error('nope')")
        let r = home.registry()
        r.reload(paths: nil)
        let first = try #require(r.pluginList().errors.first?.since)
        Thread.sleep(forTimeInterval: 0.01)
        r.reload(paths: nil, force: true)
        #expect(r.pluginList().errors.first?.since == first)
    }
}
