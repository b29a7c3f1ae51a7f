// FlowRegistryTests.swift: loading, validation before the swap, duplicates and deletion (SPEC §4), on real files.
import Foundation
import Logging
import Testing
import Synchronization
import TideDaemon

/// A temporary home with a flows/ folder.
private struct Home {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "tide-registry-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path + "/flows", withIntermediateDirectories: true)
    }

    func write(_ name: String, _ text: String) throws {
        let file = path + "/flows/" + name
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: file, atomically: true, encoding: .utf8)
    }

    func remove(_ name: String) throws { try FileManager.default.removeItem(atPath: path + "/flows/" + name) }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

private func registry(_ home: Home) -> FlowRegistry {
    FlowRegistry(home: home.path, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
}

@Suite("FlowRegistry")
struct FlowRegistryTests {
    @Test("a full scan loads every script, recursively, skipping hidden files")
    func scan() throws {
        let home = try Home()
        defer { home.cleanup() }
        try home.write("a.lua", #"flow { run = function() end }"#)
        try home.write("sub/deeper/b.lua", #"flow { name = "bee", run = function() end }"#)
        try home.write(".hidden.lua", #"flow { name = "hidden", run = function() end }"#)
        try home.write("notes.txt", "not a script")
        let r = registry(home)
        r.reload(paths: nil)
        #expect(r.snapshot().flows.map(\.definition.name) == ["a", "bee"])
        #expect(r.flow(named: "bee")?.file == "flows/sub/deeper/b.lua")
        #expect(r.snapshot().errors.isEmpty)
    }

    @Test("a failing new version keeps the old one serving and reports file:line")
    func failingVersion() throws {
        let home = try Home()
        defer { home.cleanup() }
        try home.write("a.lua", #"flow { description = "one", run = function() return 1 end }"#)
        let r = registry(home)
        r.reload(paths: nil)
        try home.write("a.lua", "flow { description = \"two\",\n run = function() return 1 end\n")
        let changed = r.reload(paths: [home.path + "/flows/a.lua"])
        #expect(changed == ["flows/a.lua"])
        let flow = try #require(r.flow(named: "a"))
        #expect(flow.definition.description == "one")
        #expect(flow.stale)
        let error = try #require(r.snapshot().errors.first)
        #expect(error.error.hasPrefix("flows/a.lua:"))
        // fixed: the new version serves and the error is gone
        try home.write("a.lua", #"flow { description = "three", run = function() return 1 end }"#)
        r.reload(paths: [home.path + "/flows/a.lua"])
        #expect(r.flow(named: "a")?.definition.description == "three")
        #expect(r.flow(named: "a")?.stale == false)
        #expect(r.snapshot().errors.isEmpty)
    }

    @Test("a name another file serves is an error of the later file; it loads once the first goes")
    func duplicates() throws {
        let home = try Home()
        defer { home.cleanup() }
        try home.write("a.lua", #"flow { name = "x", run = function() return "a" end }"#)
        let r = registry(home)
        r.reload(paths: nil)
        try home.write("b.lua", #"flow { name = "x", run = function() return "b" end }"#)
        r.reload(paths: [home.path + "/flows/b.lua"])
        #expect(r.flow(named: "x")?.file == "flows/a.lua")
        #expect(r.snapshot().errors.first?.error.contains("already defined in flows/a.lua") == true)
        try home.remove("a.lua")
        r.reload(paths: [home.path + "/flows/a.lua"])
        #expect(r.flow(named: "x")?.file == "flows/b.lua")
        #expect(r.snapshot().errors.isEmpty)
    }

    @Test("deleting a file removes its flows; a rescan notices files that vanished")
    func deletion() throws {
        let home = try Home()
        defer { home.cleanup() }
        try home.write("a.lua", #"flow { run = function() end }"#)
        try home.write("b.lua", #"flow { run = function() end }"#)
        let r = registry(home)
        r.reload(paths: nil)
        try home.remove("a.lua")
        try home.remove("b.lua")
        r.reload(paths: [home.path + "/flows/a.lua"])
        #expect(r.snapshot().flows.map(\.definition.name) == ["b"])
        r.reload(paths: nil)
        #expect(r.snapshot().flows.isEmpty)
    }

    @Test("invalid UTF-8 and a top level that never ends are load errors, not hangs")
    func badFiles() throws {
        let home = try Home()
        defer { home.cleanup() }
        _ = FileManager.default.createFile(atPath: home.path + "/flows/bin.lua", contents: Data([0xff, 0xfe, 0x00, 0x41]))
        try home.write("loop.lua", "while true do end")
        let r = registry(home)
        r.reload(paths: nil)
        let errors = r.snapshot().errors.map(\.error)
        #expect(errors.contains { $0.contains("flows/bin.lua") && $0.contains("UTF-8") })
        #expect(errors.contains { $0.contains("flows/loop.lua") && $0.contains("longer than 2 s") })
    }

    @Test("an unchanged file is not loaded again unless forced")
    func unchanged() throws {
        let home = try Home()
        defer { home.cleanup() }
        try home.write("a.lua", #"flow { run = function() end }"#)
        let r = registry(home)
        r.reload(paths: nil)
        #expect(r.reload(paths: nil).isEmpty)
        #expect(r.reload(paths: nil, force: true).isEmpty)  // forced, loaded again, same flows: no change
    }
}

@Suite("FlowRegistry reloads")
struct FlowRegistryReloadTests {
    @Test("a rename to a name that sorts earlier, seen in one reload, moves the flows with no error")
    func renameInOneReload() throws {
        let home = try Home()
        defer { home.cleanup() }
        try home.write("zeta.lua", #"flow { name = "shared", run = function() return 1 end }"#)
        let r = registry(home)
        r.reload(paths: nil)
        try FileManager.default.moveItem(atPath: home.path + "/flows/zeta.lua", toPath: home.path + "/flows/alpha.lua")
        r.reload(paths: [home.path + "/flows/zeta.lua", home.path + "/flows/alpha.lua"])
        #expect(r.flow(named: "shared")?.file == "flows/alpha.lua")
        #expect(r.snapshot().errors.isEmpty)
    }

    @Test("a looping file is not loaded again when other files change, nor when it is touched or saved unchanged")
    func loopingFileOnce() throws {
        let home = try Home()
        defer { home.cleanup() }
        try home.write("loop.lua", "while true do end")
        try home.write("a.lua", #"flow { description = "one", run = function() end }"#)
        let clock = TestClock()
        let r = FlowRegistry(home: home.path, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), now: clock.now)
        r.reload(paths: nil)
        let since = try #require(r.snapshot().errors.first?.since)
        clock.advance(by: 60)
        try home.write("a.lua", #"flow { description = "two", run = function() end }"#)
        r.reload(paths: [home.path + "/flows/a.lua"])
        r.reload(paths: nil)
        try home.write("loop.lua", "while true do end")  // the same bytes again
        r.reload(paths: [home.path + "/flows/loop.lua"])
        #expect(r.flow(named: "a")?.definition.description == "two")
        #expect(r.snapshot().errors.map(\.since) == [since], "the looping file was loaded again")
        try home.write("loop.lua", "while true do end -- edited")
        r.reload(paths: [home.path + "/flows/loop.lua"])
        #expect(r.snapshot().errors.map(\.since) != [since], "an edited file was not loaded again")
    }
}

/// Seconds since the epoch that move only when told.
private final class TestClock: Sendable {
    private let value = Mutex(1_800_000_000.0)
    var now: @Sendable () -> Double { { [self] in value.withLock { $0 } } }
    func advance(by seconds: Double) { value.withLock { $0 += seconds } }
}
