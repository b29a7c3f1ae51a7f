// CheckCommand.swift: `tide check FILE...`: load and validate scripts without running them.
import ArgumentParser
import Foundation
import TideEngine

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Load and validate flow scripts (and the home's plugins) without running them.",
        discussion: "A file in the home's plugins/ folder is checked as a plugin: loaded as require loads it in a flow, setup(config) included.")

    @Argument(help: "Flow scripts (or plugins of the home) to check.")
    var files: [String]

    @OptionGroup var home: HomeOptions

    @Flag(name: .long, help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one flow script to check") }
    }

    func run() async throws {
        var reports: [[String: Any]] = []
        var failures = 0
        for file in files {
            if let found = PluginFolder.check(file: file, in: home.plugins) {
                // a plugin of this home: loaded as a flow's require loads it (setup included)
                do throws(EngineError) {
                    let plugin: PluginCandidate
                    switch found {
                    case .success(let candidate): plugin = candidate
                    case .failure(let problem): throw EngineError(.load, problem.message)
                    }
                    let info = try PluginLoader.describe(plugin, plugins: home.plugins)
                    let about = [info.version, info.kind == "c" ? "C module" : nil].compactMap { $0 }.joined(separator: ", ")
                    reports.append(["file": file, "ok": true, "plugin": info.name, "version": info.version ?? NSNull()])
                    if !json { print("ok      \(file)  (plugin \(info.name)\(about.isEmpty ? "" : " \(about)"))") }
                } catch {
                    failures += 1
                    reports.append(["file": file, "ok": false, "error": error.message])
                    if !json { print("error   \(error.message)") }
                }
                continue
            }
            do throws(EngineError) {
                let script = try FlowScript(contentsOf: file)
                let flows = try FlowLoader.definitions(of: script, plugins: home.plugins)
                if flows.isEmpty { throw EngineError(.load, "\(file): defines no flow (call flow{ name = ..., run = function(ctx) ... end })") }
                reports.append(["file": file, "ok": true, "flows": flows.map(\.name)])
                if !json { print("ok      \(file)  (\(flows.map(\.name).joined(separator: ", ")))") }
            } catch {
                failures += 1
                reports.append(["file": file, "ok": false, "error": error.message])
                if !json { print("error   \(error.message)") }
            }
        }
        if json {
            let object: [String: Any] = ["ok": failures == 0, "files": reports]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
            print(String(decoding: data, as: UTF8.self))
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
