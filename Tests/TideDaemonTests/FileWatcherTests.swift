// FileWatcherTests.swift: inotify sees writes, editors' rename-over saves, new sub-folders and deletions.
import Foundation
import Logging
import Synchronization
import Testing
import TideDaemon

/// Collects the watcher's batches.
private final class Batches: Sendable {
    let value = Mutex<[WatchChange]>([])
    var all: WatchChange {
        value.withLock { batches in
            var merged = WatchChange()
            for b in batches {
                merged.flows.formUnion(b.flows)
                merged.plugins = merged.plugins || b.plugins
                merged.rescan = merged.rescan || b.rescan
            }
            return merged
        }
    }
    func reset() { value.withLock { $0 = [] } }
}

private func eventually(_ condition: @escaping () -> Bool) async -> Bool {
    for _ in 0..<250 {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

@Suite("FileWatcher", .serialized)
struct FileWatcherTests {
    @Test("writes, rename-over saves, new sub-folders, deletions and plugins", arguments: [false, true])
    func changes(polling: Bool) async throws {
        let home = NSTemporaryDirectory() + "tide-watch-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home + "/flows", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: home + "/plugins", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let batches = Batches()
        let watcher = FileWatcher(home: home, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) { change in
            batches.value.withLock { $0.append(change) }
        }
        watcher.start(polling: polling)
        defer { watcher.stop() }
        #expect(watcher.mode == (polling ? .polling : .inotify))
        if polling { try await Task.sleep(for: .milliseconds(150)) }  // the first scan is the baseline

        let a = home + "/flows/a.lua"
        try "-- one".write(toFile: a, atomically: false, encoding: .utf8)
        #expect(await eventually { batches.all.flows.contains(a) })

        batches.reset()
        try "-- two".write(toFile: home + "/flows/.a.lua.swp", atomically: false, encoding: .utf8)
        rename(home + "/flows/.a.lua.swp", a)
        #expect(await eventually { batches.all.flows.contains(a) })
        #expect(!batches.all.flows.contains { $0.hasSuffix(".swp") })

        batches.reset()
        try FileManager.default.createDirectory(atPath: home + "/flows/sub/deeper", withIntermediateDirectories: true)
        let deep = home + "/flows/sub/deeper/b.lua"
        try "-- b".write(toFile: deep, atomically: false, encoding: .utf8)
        #expect(await eventually { batches.all.flows.contains(deep) })

        batches.reset()
        try FileManager.default.removeItem(atPath: a)
        #expect(await eventually { batches.all.flows.contains(a) })

        batches.reset()
        try "return {}".write(toFile: home + "/plugins/p.lua", atomically: false, encoding: .utf8)
        #expect(await eventually { batches.all.plugins })

        // the plugins' settings: created, rewritten in place, replaced by a rename, removed
        let settings = home + "/plugins.json"
        batches.reset()
        try "{}".write(toFile: settings, atomically: false, encoding: .utf8)
        #expect(await eventually { batches.all.plugins }, "plugins.json created")
        batches.reset()
        try #"{"p": {}}"#.write(toFile: settings, atomically: false, encoding: .utf8)
        #expect(await eventually { batches.all.plugins }, "plugins.json written in place")
        batches.reset()
        try #"{"p": {"x": 1}}"#.write(toFile: settings, atomically: true, encoding: .utf8)
        #expect(await eventually { batches.all.plugins }, "plugins.json replaced by a rename")
        batches.reset()
        try FileManager.default.removeItem(atPath: settings)
        #expect(await eventually { batches.all.plugins }, "plugins.json removed")
        // other files at the home's top level are not the watcher's business
        batches.reset()
        try "x".write(toFile: home + "/notes.txt", atomically: false, encoding: .utf8)
        try await Task.sleep(for: .milliseconds(polling ? 300 : 150))
        #expect(batches.all.isEmpty)
    }

    @Test("a plugins/ folder that is a symbolic link (as examples/plugins is) is watched where it points",
          arguments: [false, true])
    func symlinkedPlugins(polling: Bool) async throws {
        let base = NSTemporaryDirectory() + "tide-watch-\(UUID().uuidString)"
        let home = base + "/home"
        try FileManager.default.createDirectory(atPath: home + "/flows", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/shared", withIntermediateDirectories: true)
        try "return {}".write(toFile: base + "/shared/p.lua", atomically: false, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: home + "/plugins", withDestinationPath: "../shared")
        defer { try? FileManager.default.removeItem(atPath: base) }
        let batches = Batches()
        let watcher = FileWatcher(home: home, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) { change in
            batches.value.withLock { $0.append(change) }
        }
        watcher.start(polling: polling)
        defer { watcher.stop() }
        if polling { try await Task.sleep(for: .milliseconds(150)) }
        try "return { v = 2 }".write(toFile: base + "/shared/p.lua", atomically: false, encoding: .utf8)
        #expect(await eventually { batches.all.plugins })
    }

    @Test("a burst of writes arrives as few batches (debounced)")
    func debounce() async throws {
        let home = NSTemporaryDirectory() + "tide-watch-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: home + "/flows", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let batches = Batches()
        let watcher = FileWatcher(home: home, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })) { change in
            batches.value.withLock { $0.append(change) }
        }
        watcher.start()
        defer { watcher.stop() }
        for i in 0..<50 {
            try "-- \(i)".write(toFile: home + "/flows/f\(i % 5).lua", atomically: false, encoding: .utf8)
        }
        #expect(await eventually { batches.all.flows.count == 5 })
        // 50 writes in well under the 80 ms cap: a handful of batches, not fifty
        #expect(batches.value.withLock { $0.count } < 10)
    }
}
