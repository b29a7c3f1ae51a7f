// ShippedPluginTests.swift: the plugins in plugins/ and the example home that uses them: each
// plugin's Lua test (Tests/Fixtures/plugins/*_test.lua) through `tide exec`, the example flows
// through `tide check` and `tide exec`, and the on-failure notifier through the real daemon.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Homes that use the repository's plugins/.
enum ShippedPlugins {
    /// The repository.
    static let root = TideProcess.packageRoot.path

    /// A scratch home whose plugins/ links to the repository's plugins/, with an empty data/.
    static func withHome<T>(_ body: (ScratchDirectory) async throws -> T) async throws -> T {
        try await withScratchDirectory { dir in
            try FileManager.default.createSymbolicLink(atPath: dir.path + "/plugins", withDestinationPath: root + "/plugins")
            try FileManager.default.createDirectory(atPath: dir.path + "/data", withIntermediateDirectories: true)
            return try await body(dir)
        }
    }
}

extension PluginSuites {
@Suite("shipped plugins and the example home")
struct ShippedPluginTests {
    static let root = ShippedPlugins.root
    static func withShippedPlugins<T>(_ body: (ScratchDirectory) async throws -> T) async throws -> T {
        try await ShippedPlugins.withHome(body)
    }

    @Test("each shipped plugin passes its Lua test through tide exec",
          arguments: ["files", "rotate", "notify", "healthcheck"])
    func pluginLuaTest(plugin: String) async throws {
        try await Self.withShippedPlugins { home in
            let fixture = Self.root + "/Tests/Fixtures/plugins/\(plugin)_test.lua"
            let payload = #"{"dir":"\#(home.path)/data"}"#
            let output = try await TideProcess.run(["exec", fixture, "--json", "--payload", payload], in: home.url, timeout: .seconds(60))
            let report = try ExecReport(output)
            #expect(report.status == "succeeded", "\(plugin): \(report.errorMessage)\nstderr: \(output.stderr.suffix(3000))")
            #expect(report.result == .string("ok"))
        }
    }

    @Test("every shipped plugin passes tide check, with its metadata", arguments: ["files", "rotate", "notify", "healthcheck"])
    func pluginsCheck(plugin: String) async throws {
        let output = try await TideProcess.run(["check", "plugins/\(plugin).lua", "--home", Self.root + "/examples"],
                                               in: URL(fileURLWithPath: Self.root + "/examples"))
        #expect(output.status == 0, "\(output.combined)")
        #expect(output.stdout.contains("(plugin \(plugin) 1.0.0)"), "\(output.stdout)")
    }

    @Test("the example flows load with the example home's plugins")
    func exampleFlowsCheck() async throws {
        let flows = try FileManager.default.contentsOfDirectory(atPath: Self.root + "/examples/flows").filter { $0.hasSuffix(".lua") }.sorted()
        let output = try await TideProcess.run(["check"] + flows.map { "flows/" + $0 } + ["--home", Self.root + "/examples"],
                                               in: URL(fileURLWithPath: Self.root + "/examples"))
        #expect(output.status == 0, "\(output.combined)")
        for name in ["backup-rotate", "wait-for-upload", "on-failure"] {
            #expect(output.stdout.contains("(\(name))"), "\(output.stdout)")
        }
    }

    @Test("the backup example: snapshots, checksums and keeps the last three")
    func backupExample() async throws {
        try await Self.withShippedPlugins { home in
            let payload = #"{"dir":"\#(home.path)/data/backups"}"#
            var last: JSONValue?
            for _ in 0..<5 {
                let output = try await TideProcess.run(["exec", Self.root + "/examples/flows/backup-rotate.lua", "--json", "--payload", payload], in: home.url)
                let report = try ExecReport(output)
                #expect(report.status == "succeeded", "\(report.errorMessage)")
                last = report.result
                try await Task.sleep(for: .milliseconds(1100))  // snapshot names have seconds
            }
            #expect(last?["kept"] == .number(3), "\(String(describing: last))")
            let left = try FileManager.default.contentsOfDirectory(atPath: home.path + "/data/backups").sorted()
            #expect(left.filter { $0.hasSuffix(".txt") }.count == 3, "\(left)")
            #expect(left.filter { $0.hasSuffix(".sha256") }.count == 3, "\(left)")
            #expect(last?["sha256"]?.string?.count == 64)
        }
    }

    @Test("the upload example waits for a file another process writes, then checksums it")
    func waitForUploadExample() async throws {
        try await Self.withShippedPlugins { home in
            let path = home.path + "/data/export.csv"
            let payload = #"{"path":"\#(path)","timeout":"20s"}"#
            try #"{"notify": {"url": "https://ntfy.sh/test", "dry_run": true}}"#.write(toFile: home.path + "/plugins.json", atomically: true, encoding: .utf8)
            async let run = TideProcess.run(["exec", Self.root + "/examples/flows/wait-for-upload.lua", "--json", "--payload", payload], in: home.url)
            try await Task.sleep(for: .milliseconds(700))
            try "1\n2\n3\n".write(toFile: path, atomically: false, encoding: .utf8)
            let report = try ExecReport(try await run)
            #expect(report.status == "succeeded", "\(report.errorMessage)")
            #expect(report.result?["size"] == .number(6))
            #expect(report.result?["sha256"]?.string == "14c5e74c4b96ccef41cd94db73a9ec3348038ac094feca4fd897cecffa07cdae", "\(report.json)")
        }
    }

    @Test("the on-failure example notifies through the notify plugin when a run fails (in the daemon)")
    func onFailureNotifies() async throws {
        try await Lifecycle.withHome { home in
            let fm = FileManager.default
            let dir = home.dir
            try fm.createDirectory(atPath: dir.path + "/flows", withIntermediateDirectories: true)
            for name in ["on-failure.lua", "saga.lua"] {
                try fm.copyItem(atPath: Self.root + "/examples/flows/" + name, toPath: dir.path + "/flows/" + name)
            }
            try fm.createSymbolicLink(atPath: dir.path + "/plugins", withDestinationPath: Self.root + "/plugins")
            try fm.copyItem(atPath: Self.root + "/examples/plugins.json", toPath: dir.path + "/plugins.json")
            let d = try await home.start()
            let failed = try await d.tide(["run", "saga", "--payload", #"{"fail_at":"ship"}"#])
            #expect(failed.status == 1, "\(failed.combined)")
            @Sendable func notifierRun() async throws -> JSONValue? {
                (try await Lifecycle.rpc(d, "runs.list", ["flow": "on-failure"]))["runs"]?.array?.first
            }
            let done = await Lifecycle.waitFor { try await notifierRun()?["status"]?.string == "succeeded" }
            #expect(done, "no successful on-failure run; log:\n\(d.log.suffix(3000))")
            let id = try #require(try await notifierRun()?["run_id"]?.string)
            let notifier: JSONValue? = try await Lifecycle.rpc(d, "run.get", ["run_id": id])
            #expect(notifier?["result"]?["flow"]?.string == "saga", "\(String(describing: notifier))")
            #expect(notifier?["result"]?["sent"] == .number(1))
            let logs = try await d.tide(["logs", id])
            #expect(logs.stdout.contains("notify (dry run) ntfy ntfy.sh: saga failed"), "\(logs.stdout)")
        }
    }
}
}  // extension PluginSuites
