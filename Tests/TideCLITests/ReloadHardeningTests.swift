// ReloadHardeningTests.swift: reloading under bad input (issue 11): renames, a looping file beside
// many changes, file names that are not UTF-8, a flows folder that is a symbolic link.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("reload hardening", .serialized)
struct ReloadHardeningTests {
    typealias L = Lifecycle

    static let looping = "-- never ends: the 2 s load limit stops it\nwhile true do end\n"

    @Test("renaming a file to a name that sorts earlier (zeta.lua -> alpha.lua) moves its flows, with no 'already defined' error")
    func renameToAnEarlierName() async throws {
        try await L.withHome(files: ["flows/zeta.lua": L.flow("shared", description: "renamed")]) { home in
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            #expect(rename(home.dir.path + "/flows/zeta.lua", home.dir.path + "/flows/alpha.lua") == 0)
            #expect(await L.waitFor { try await L.flow(d, "shared")?["file"]?.string == "flows/alpha.lua" },
                    "the flow did not move to alpha.lua; log:\n\(d.log.suffix(3000))")
            let errors = try await L.fileErrors(d)
            #expect(errors.isEmpty, "a rename left an error: \(errors)")
        }
    }

    @Test("a file renamed back and forth 100 times in a second ends served under its last name, with no stale error")
    func renamedBackAndForth() async throws {
        try await L.withHome(files: ["flows/alpha.lua": L.flow("shared", description: "moving")]) { home in
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            let names = ["flows/alpha.lua", "flows/zeta.lua"].map { home.dir.path + "/" + $0 }
            for i in 0..<100 {
                #expect(rename(names[i % 2], names[(i + 1) % 2]) == 0)
                try await Task.sleep(for: .milliseconds(10))  // the input: 100 renames spread over a second
            }
            // 100 renames: back at alpha.lua
            #expect(await L.waitFor {
                let file = try await L.flow(d, "shared")?["file"]?.string
                let errors = try await L.fileErrors(d)
                return file == "flows/alpha.lua" && errors.isEmpty
            }, "wrong state after the renames; log:\n\(d.log.suffix(3000))")
            let listed = try await L.json(d, ["flows"])
            #expect(listed["flows"]?.array?.compactMap { $0["file"]?.string } == ["flows/alpha.lua"], "\(listed)")
            let run = try await d.tide(["run", "shared", "--json"])
            #expect(run.status == 0, "\(run.combined)")
        }
    }

    @Test("a file whose top level loops is loaded once: not again when 1,000 files are dropped beside it, nor on each edit of another")
    func loopingFileLoadedOnce() async throws {
        try await L.withHome(files: ["flows/loop.lua": Self.looping, "flows/edited.lua": L.flow("edited", description: "v0")]) { home in
            let d = try await home.start()
            let first = try #require(try await Self.error(d, "flows/loop.lua"), "the looping file is not listed as failing")
            #expect(first.error.contains("longer than 2 s"), "\(first.error)")

            // 1,000 files at once
            for i in 0..<1000 {
                try home.overwrite(String(format: "flows/m%04d.lua", i), L.flow(String(format: "m%04d", i)))
            }
            #expect(await L.waitFor(.seconds(30)) { try await L.rpc(d, "daemon.status")["flows"]?.number == 1001 },
                    "not every one of 1,000 new files served; log:\n\(d.log.suffix(3000))")
            // and edits of another file, one after another
            for i in 1...3 {
                try home.overwrite("flows/edited.lua", L.flow("edited", description: "v\(i)"))
                #expect(await L.waitFor { try await L.flow(d, "edited")?["description"]?.string == "v\(i)" })
            }
            let last = try #require(try await Self.error(d, "flows/loop.lua"))
            #expect(last.since == first.since, "the looping file was loaded again (its error is newer: \(first.since) -> \(last.since))")
            let loads = d.log.split(separator: "\n").filter { $0.contains("reload failed") && $0.contains("flows/loop.lua") }.count
            #expect(loads == 1, "the looping file failed \(loads) times; log:\n\(d.log.suffix(3000))")
            #expect(try await L.fileErrors(d).keys.sorted() == ["flows/loop.lua"])

            // and all of them removed at once
            for i in 0..<1000 { try FileManager.default.removeItem(atPath: home.dir.path + String(format: "/flows/m%04d.lua", i)) }
            #expect(await L.waitFor(.seconds(30)) { try await L.rpc(d, "daemon.status")["flows"]?.number == 1 },
                    "1,000 removed files still served; log:\n\(d.log.suffix(3000))")
        }
    }

    @Test("a file name that is not UTF-8 is a load error with its bad bytes shown as \\xNN, at start and while serving")
    func fileNameNotUTF8() async throws {
        try await L.withHome(files: ["flows/good.lua": L.flow("good")]) { home in
            let flows = home.dir.path + "/flows/"
            try Self.create(Array(flows.utf8) + [0x63, 0x61, 0x66, 0xff] + Array(".lua".utf8), L.flow("cafe"))  // caf\xff.lua
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            let atStart = try await L.fileErrors(d)
            #expect(atStart["flows/caf\\xff.lua"]?.contains("not valid UTF-8") == true, "\(atStart)")

            try Self.create(Array(flows.utf8) + Array("sub".utf8), nil)
            try Self.create(Array(flows.utf8) + Array("sub/b".utf8) + [0xfe, 0xfd] + Array(".lua".utf8), L.flow("b"))
            #expect(await L.waitFor { try await L.fileErrors(d)["flows/sub/b\\xfe\\xfd.lua"] != nil },
                    "a new file with a bad name was not reported; log:\n\(d.log.suffix(3000))")
            let text = try await d.tide(["flows"])
            #expect(text.status == 0 && text.stdout.contains("flows/caf\\xff.lua"), "\(text.combined)")
            #expect(try await L.flow(d, "good") != nil)
            #expect(try await L.flow(d, "b") == nil)
            #expect(try await L.flow(d, "cafe") == nil)

            // renamed to a good name: served, the error gone
            let bad = Array(flows.utf8) + [0x63, 0x61, 0x66, 0xff] + Array(".lua".utf8)
            #expect(Self.renameBytes(bad, Array((flows + "cafe.lua").utf8)) == 0)
            #expect(await L.waitFor {
                let served = try await L.flow(d, "cafe") != nil
                let errors = try await L.fileErrors(d)
                return served && errors["flows/caf\\xff.lua"] == nil
            },
                    "log:\n\(d.log.suffix(3000))")
        }
    }

    @Test("flows/ as a symbolic link (dotfiles): followed at start, and when a folder is replaced by a link while serving",
          arguments: ["inotify", "polling"])
    func symlinkedFlowsFolder(watcher: String) async throws {
        try await L.withHome(files: [
            "flows/a.lua": L.flow("a"),
            "dotfiles/flows/b.lua": L.flow("b", description: "one"),
        ]) { home in
            let root = home.dir.path
            let d = try await home.start(watcher == "polling" ? ["--poll"] : [])
            try await L.waitForWatcher(home, d)
            // replace the folder by a link (as a dotfiles manager does)
            #expect(rename(root + "/flows", root + "/flows.old") == 0)
            try FileManager.default.createSymbolicLink(atPath: root + "/flows", withDestinationPath: root + "/dotfiles/flows")
            #expect(await L.waitFor {
                let b = try await L.flow(d, "b")
                let a = try await L.flow(d, "a")
                return b != nil && a == nil
            },
                    "the link was not followed; log:\n\(d.log.suffix(3000))")
            // the link's target is watched, the old folder no longer
            try home.overwrite("dotfiles/flows/b.lua", L.flow("b", description: "two"))
            try home.overwrite("dotfiles/flows/c.lua", L.flow("c"))
            #expect(await L.waitFor {
                let b = try await L.flow(d, "b")?["description"]?.string
                let c = try await L.flow(d, "c")
                return b == "two" && c != nil
            },
                    "an edit in the link's target was not picked up; log:\n\(d.log.suffix(3000))")
            try home.overwrite("flows.old/a.lua", L.flow("a", description: "old folder"))
            try home.overwrite("flows.old/d.lua", L.flow("d"))
            try home.overwrite("dotfiles/flows/e.lua", L.flow("e"))  // a change after those, to wait for
            #expect(await L.waitFor { try await L.flow(d, "e") != nil })
            #expect(try await L.flow(d, "a") == nil, "a file of the replaced folder is served")
            #expect(try await L.flow(d, "d") == nil, "a file of the replaced folder is served")
            #expect(try await L.fileErrors(d).isEmpty)

            // a daemon started on the link serves its target too
            await home.stopAll(signal: SIGTERM)
            let d2 = try await home.start(watcher == "polling" ? ["--poll"] : [])
            #expect(try await L.rpc(d2, "flows.list")["flows"]?.array?.compactMap { $0["name"]?.string } == ["b", "c", "e"])
        }
    }

    /// The load error of `file`, with its `since`.
    static func error(_ d: RunningDaemon, _ file: String) async throws -> (error: String, since: String)? {
        for e in try await L.rpc(d, "flows.list")["errors"]?.array ?? [] where e["file"]?.string == file {
            return (e["error"]?.string ?? "", e["since"]?.string ?? "")
        }
        return nil
    }

    /// Creates a file (or, with nil, a folder) whose path is raw bytes.
    static func create(_ path: [UInt8], _ text: String?) throws {
        let cPath = path.map { CChar(bitPattern: $0) } + [0]
        if let text {
            let fd = open(cPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw HarnessError("cannot create \(String(decoding: path, as: UTF8.self)): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let bytes = Array(text.utf8)
            guard write(fd, bytes, bytes.count) == bytes.count else { throw HarnessError("short write") }
        } else if mkdir(cPath, 0o755) != 0 {
            throw HarnessError("cannot create the folder: \(String(cString: strerror(errno)))")
        }
    }

    static func renameBytes(_ from: [UInt8], _ to: [UInt8]) -> Int32 {
        Glibc.rename(from.map { CChar(bitPattern: $0) } + [0], to.map { CChar(bitPattern: $0) } + [0])
    }
}
