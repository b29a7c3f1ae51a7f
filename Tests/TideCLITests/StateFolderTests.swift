// StateFolderTests.swift: the state folder, socket folder and database under bad setups (issue 11):
// symbolic links, other users' folders, modes, an empty or unreadable database, the WAL at a stop.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Tests that make files of user nobody need root (they run as root in CI).
private let asRoot = getuid() == 0

@Suite("state folder", .serialized)
struct StateFolderTests {
    typealias L = Lifecycle

    static let nobody: uid_t = 65534

    @Test("a .tide that is a symbolic link (to another user's folder) is refused, and that folder is left as it was",
          .enabled(if: asRoot))
    func stateFolderSymlink() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let other = home.dir.path + "/victim"
            try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: false)
            chmod(other, 0o755)
            chown(other, Self.nobody, Self.nobody)
            try FileManager.default.createSymbolicLink(atPath: home.dir.path + "/.tide", withDestinationPath: other)
            let r = try await Self.serve(home)
            #expect(r.status == 1, "\(r.combined)")
            #expect(r.stderr.contains(home.dir.path + "/.tide is a symbolic link (to \(other))"), "\(r.stderr)")
            #expect(Self.mode(other) == 0o755, "the link's target was chmodded")
            #expect(try FileManager.default.contentsOfDirectory(atPath: other).isEmpty, "tide wrote into the link's target")
        }
    }

    @Test("a .tide owned by another user is refused, naming the owner, and its mode is left alone", .enabled(if: asRoot))
    func stateFolderOtherOwner() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let state = home.dir.path + "/.tide"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
            chmod(state, 0o755)
            chown(state, Self.nobody, Self.nobody)
            let r = try await Self.serve(home)
            #expect(r.status == 1, "\(r.combined)")
            #expect(r.stderr.contains("\(state) is owned by nobody (uid 65534), not by root (uid 0)"), "\(r.stderr)")
            #expect(r.stderr.contains("--state"), "the error does not say how to choose another: \(r.stderr)")
            #expect(Self.mode(state) == 0o755)
            #expect(try FileManager.default.contentsOfDirectory(atPath: state).isEmpty)
        }
    }

    @Test("a --socket in a folder owned by another user is refused, naming the folder and its owner", .enabled(if: asRoot))
    func socketFolderOtherOwner() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let folder = home.dir.path + "/sockets"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
            chmod(folder, 0o777)
            chown(folder, Self.nobody, Self.nobody)
            let r = try await Self.serve(home, ["--socket", folder + "/tide.sock"])
            #expect(r.status == 1, "\(r.combined)")
            #expect(r.stderr.contains("\(folder) is owned by nobody (uid 65534)"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder + "/tide.sock"))
        }
    }

    @Test("a state database that is a symbolic link is refused", .enabled(if: asRoot))
    func databaseSymlink() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a"), "elsewhere/keep.txt": "x"]) { home in
            let state = home.dir.path + "/.tide"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
            chmod(state, 0o700)
            let target = home.dir.path + "/elsewhere/history.sqlite"
            try FileManager.default.createSymbolicLink(atPath: state + "/state.sqlite", withDestinationPath: target)
            let r = try await Self.serve(home)
            #expect(r.status == 1, "\(r.combined)")
            #expect(r.stderr.contains("\(state)/state.sqlite is a symbolic link"), "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: target), "SQLite created the link's target")
        }
    }

    @Test("state.sqlite, -wal and -shm are 0600 in a 0700 folder; a graceful stop leaves no -wal or -shm, and the history")
    func databaseModesAndStop() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let state = home.dir.path + "/.tide"
            let d = try await home.start()
            let run = try await d.tide(["run", "a", "--json"])
            #expect(run.status == 0, "\(run.combined)")
            #expect(Self.mode(state) == 0o700)
            for suffix in ["", "-wal", "-shm"] {
                #expect(Self.mode(state + "/state.sqlite" + suffix) == 0o600, "state.sqlite\(suffix) has mode \(String(Self.mode(state + "/state.sqlite" + suffix) ?? 0, radix: 8))")
            }
            #expect(await d.stop(signal: SIGTERM) == 0, "log:\n\(d.log.suffix(3000))")
            #expect(!FileManager.default.fileExists(atPath: state + "/state.sqlite-wal"), "the WAL is left after a graceful stop")
            #expect(!FileManager.default.fileExists(atPath: state + "/state.sqlite-shm"), "the -shm is left after a graceful stop")
            #expect(Self.mode(state + "/state.sqlite") == 0o600)
            let again = try await home.start()
            let runs = try await L.json(again, ["runs"])
            #expect(runs["runs"]?.array?.count == 1, "the history did not survive the stop: \(runs)")
        }
    }

    @Test("a zero-length state.sqlite is refused with what to do, not silently started as an empty history")
    func zeroLengthDatabase() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let state = home.dir.path + "/.tide"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
            chmod(state, 0o700)
            #expect(FileManager.default.createFile(atPath: state + "/state.sqlite", contents: Data(), attributes: [.posixPermissions: 0o600]))
            let r = try await Self.serve(home)
            #expect(r.status == 1, "\(r.combined)")
            #expect(r.stderr.contains("\(state)/state.sqlite is empty (0 bytes)"), "\(r.stderr)")
            #expect(r.stderr.contains("rm \(state)/state.sqlite"), "the error does not say how to start afresh: \(r.stderr)")
            #expect(Self.size(state + "/state.sqlite") == 0, "the empty database was written to")
        }
    }

    @Test("a state.sqlite its user cannot read (chmod 000, daemon run as nobody) is refused with what to do",
          .enabled(if: asRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")))
    func unreadableDatabase() async throws {
        try await L.withHome(files: ["flows/a.lua": L.flow("a")]) { home in
            let state = home.dir.path + "/.tide"
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: false)
            let database = state + "/state.sqlite"
            #expect(FileManager.default.createFile(atPath: database, contents: Data("SQLite format 3\0".utf8)))
            for path in [home.dir.path, home.dir.path + "/flows", home.dir.path + "/flows/a.lua", state, database] {
                chown(path, Self.nobody, Self.nobody)
            }
            chmod(state, 0o700)
            chmod(database, 0o000)
            let r = try await L.runProgram("/usr/bin/timeout", [
                "20", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                try TideProcess.binary.path, "serve", "--home", home.dir.path,
            ])
            #expect(r.status == 1, "exit \(r.status): \(r.stderr)")
            #expect(r.stderr.contains("\(database) cannot be read and written by nobody (uid 65534)"), "\(r.stderr)")
            #expect(r.stderr.contains("chmod 600 \(database)"), "the error does not say what to do: \(r.stderr)")
            #expect(Self.mode(database) == 0, "the database's mode was changed")
        }
    }

    /// `tide serve` on `home`, expected to refuse to start (killed after 20 s otherwise).
    static func serve(_ home: LifecycleHome, _ arguments: [String] = []) async throws -> TideOutput {
        try await TideProcess.run(["serve", "--home", home.dir.path] + arguments, in: home.dir.url, timeout: .seconds(20))
    }

    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : nil
    }

    static func size(_ path: String) -> Int64? {
        var info = stat()
        return lstat(path, &info) == 0 ? Int64(info.st_size) : nil
    }
}
