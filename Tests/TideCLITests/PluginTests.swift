// PluginTests.swift: plugins on the module path of `tide exec` and `tide check` (SPEC §1): metadata
// and setup(config) from plugins.json, and bad plugins, each with a clear error naming it.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A scratch home with `plugins/` files, and the `tide` commands run in it.
struct PluginHome: Sendable {
    let dir: ScratchDirectory

    var path: String { dir.path }

    /// `tide exec FILE --json` of a flow script written to `flows/NAME`.
    /// `spins`: the flow loops on purpose (a plugin that never finishes loading): run it niced.
    func exec(_ source: String, name: String = "flow.lua", timeout: Duration = .seconds(30), spins: Bool = false,
              sourceLocation: SourceLocation = #_sourceLocation) async throws -> ExecRun {
        let file = try dir.write("flows/" + name, source)
        let output = try await TideProcess.run(["exec", file, "--json"], in: dir.url, timeout: timeout, niceness: spins ? 10 : 0,
                                               sourceLocation: sourceLocation)
        return ExecRun(output: output, report: try ExecReport(output))
    }

    /// `tide check ARGS...` in the home.
    func check(_ arguments: [String], spins: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) async throws -> TideOutput {
        try await TideProcess.run(["check"] + arguments, in: dir.url, niceness: spins ? 10 : 0, sourceLocation: sourceLocation)
    }

    /// Runs `body` with a fresh home holding `files` (relative paths).
    static func with<T>(_ files: [String: String], _ body: (PluginHome) async throws -> T) async throws -> T {
        try await withScratchDirectory { dir in
            for (name, text) in files { try dir.write(name, text) }
            try FileManager.default.createDirectory(atPath: dir.path + "/flows", withIntermediateDirectories: true)
            return try await body(PluginHome(dir: dir))
        }
    }

    /// Where Debian's lua-cjson puts cjson.so for Lua 5.4 (`make test` installs it).
    static var cjson: String? {
        let candidates = ["x86_64-linux-gnu", "aarch64-linux-gnu", "arm-linux-gnueabihf", "i386-linux-gnu"]
            .map { "/usr/lib/\($0)/lua/5.4/cjson.so" } + ["/usr/local/lib/lua/5.4/cjson.so", "/usr/lib/lua/5.4/cjson.so"]
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }
}

/// A plugin with metadata and a setup that records its config.
let greetPlugin = """
    local M = { name = "greet", version = "1.2.0", description = "Says hello" }
    local prefix, setups = "hello", 0
    function M.setup(config)
      setups = setups + 1
      prefix = config.prefix or prefix
    end
    function M.hi(who) return prefix .. ", " .. who end
    function M.setups() return setups end
    return M
    """

extension PluginSuites {
@Suite("plugins in tide exec and tide check")
struct PluginTests {
    @Test("a flow requires a plugin; setup(config) gets its plugins.json entry, once per state")
    func requireWithSettings() async throws {
        try await PluginHome.with([
            "plugins/greet.lua": greetPlugin,
            "plugins.json": #"{"greet": {"prefix": "howdy"}}"#,
        ]) { home in
            let run = try await home.exec("""
                local greet = require "greet"
                flow { name = "f", run = function(ctx)
                  local again = require "greet"
                  return { greet.hi("ada"), again == greet, greet.setups(), greet.version }
                end }
                """)
            run.expectSucceeded()
            #expect(run.report.result == .array([.string("howdy, ada"), .bool(true), .number(1), .string("1.2.0")]), "\(run.report.json)")
        }
    }

    @Test("without an entry in plugins.json (or without the file) setup gets an empty table")
    func setupWithoutSettings() async throws {
        try await PluginHome.with(["plugins/greet.lua": greetPlugin]) { home in
            let run = try await home.exec(#"flow { name = "f", run = function() return require("greet").hi("bo") end }"#)
            run.expectSucceeded()
            #expect(run.report.result == .string("hello, bo"))
        }
    }

    @Test("plugins/NAME/init.lua, submodules (require \"a.b\") and plugins that require plugins")
    func forms() async throws {
        try await PluginHome.with([
            "plugins/kit/init.lua": #"local util = require "kit.util"; return { twice = function(x) return util.double(x) end }"#,
            "plugins/kit/util.lua": "return { double = function(x) return 2 * x end }",
            "plugins/uses_kit.lua": #"local kit = require "kit"; return { four = function() return kit.twice(2) end }"#,
        ]) { home in
            let run = try await home.exec(#"flow { name = "f", run = function() return require("uses_kit").four() end }"#)
            run.expectSucceeded()
            #expect(run.report.result == .number(4))
        }
    }

    @Test("a plugin with a syntax error: the flow fails naming the plugin and its file:line")
    func syntaxError() async throws {
        try await PluginHome.with(["plugins/bad.lua": "local M = {}\nlocal x = = 1\nreturn M\n"]) { home in
            let run = try await home.exec("local bad = require \"bad\"\nflow { name = \"f\", run = function() end }\n")
            run.expectFailed()
            let message = run.report.errorMessage
            #expect(message.contains("flows/flow.lua:1:"), "the requiring line: \(message)")
            #expect(message.contains("plugin 'bad' failed to load"), "\(message)")
            #expect(message.contains("plugins/bad.lua:2:"), "the plugin's file:line: \(message)")
            let check = try await home.check([home.path + "/plugins/bad.lua"])
            #expect(check.status == 1)
            #expect(check.stdout.contains("plugins/bad.lua:2:"), "\(check.combined)")
        }
    }

    @Test("a plugin that raises at load: its error with file:line, through the requiring flow")
    func errorAtLoad() async throws {
        try await PluginHome.with(["plugins/boom.lua": "local M = {}\n\nerror(\"no config here\")\nreturn M\n"]) { home in
            let run = try await home.exec("flow { name = \"f\", run = function()\n  return require \"boom\"\nend }\n")
            run.expectFailed()
            let message = run.report.errorMessage
            #expect(message.contains("flows/flow.lua:2: plugin 'boom' failed to load: plugins/boom.lua:3: no config here"), "\(message)")
        }
    }

    @Test("a plugin that busy-loops at load is stopped after the 2 s load limit and reported")
    func busyLoopAtLoad() async throws {
        try await PluginHome.with(["plugins/spin.lua": "local M = {}\nwhile true do end\nreturn M\n"]) { home in
            // required inside a run (a task), with no flow timeout: only the load limit stops it
            let run = try await home.exec(#"flow { name = "f", run = function() return require "spin" end }"#, spins: true)
            run.expectFailed()
            #expect(run.report.errorMessage.contains("plugin 'spin' failed to load: plugins/spin.lua: loading took longer than 2 s"),
                    "\(run.report.errorMessage)")
            #expect(run.output.duration < .seconds(20), "took \(run.output.duration)")  // 2 s, with room for a loaded machine
            // at a flow's top level, and checked on its own
            let check = try await home.check([try home.dir.write("flows/top.lua", "local s = require \"spin\"\nflow { name = \"t\", run = function() end }\n"),
                                              home.path + "/plugins/spin.lua"], spins: true)
            #expect(check.status == 1)
            #expect(check.stdout.contains("flows/top.lua:1: plugin 'spin' failed to load: plugins/spin.lua: loading took longer than 2 s"), "\(check.stdout)")
            #expect(check.stdout.components(separatedBy: "loading took longer than 2 s").count == 3, "\(check.stdout)")
            #expect(check.duration < .seconds(25), "took \(check.duration)")
        }
    }

    @Test("a plugin that loops inside a pcall is stopped too (pcall cannot catch the stop)")
    func busyLoopInsidePcall() async throws {
        try await PluginHome.with(["plugins/sly.lua": "while true do pcall(function() while true do end end) end\n"]) { home in
            let run = try await home.exec(#"flow { name = "f", run = function() local ok, e = pcall(require, "sly"); return e end }"#, spins: true)
            run.expectSucceeded()  // the flow caught the plugin's load error: an ordinary error
            #expect(run.report.result?.string?.contains("loading took longer than 2 s") == true, "\(run.report.json)")
        }
    }

    @Test("plugins named like built-ins: require gives the built-in; tide check says the plugin is never loaded",
          arguments: ["json", "string", "tide"])
    func shadowedBuiltinModule(name: String) async throws {
        try await PluginHome.with(["plugins/\(name).lua": #"return { fake = true }"#]) { home in
            let run = try await home.exec("""
                flow { name = "f", run = function()
                  local m = require "\(name)"
                  return { fake = m.fake == true, same = (m == json or m == string or m == require("tide")) }
                end }
                """)
            run.expectSucceeded()
            #expect(run.report.result == .object(["fake": .bool(false), "same": .bool(true)]), "\(run.report.json)")
            let check = try await home.check([home.path + "/plugins/\(name).lua"])
            #expect(check.status == 1)
            #expect(check.stdout.contains("plugins/\(name).lua: '\(name)' is a built-in module of flows"), "\(check.stdout)")
        }
    }

    @Test("a plugin named like a built-in function is refused, and require of that name says why")
    func shadowedBuiltinFunction() async throws {
        try await PluginHome.with(["plugins/sleep.lua": "return {}"]) { home in
            let run = try await home.exec(#"flow { name = "f", run = function() return require "sleep" end }"#)
            run.expectFailed()
            #expect(run.report.errorMessage.contains("'sleep' is a built-in function of flows, not a module"), "\(run.report.errorMessage)")
            let check = try await home.check([home.path + "/plugins/sleep.lua"])
            #expect(check.stdout.contains("plugins/sleep.lua: 'sleep' is a built-in function of flows: a plugin cannot take its name"), "\(check.stdout)")
        }
    }

    @Test("require of the full debug library gives the reduced one flows have")
    func debugStaysReduced() async throws {
        try await PluginHome.with([:]) { home in
            let run = try await home.exec(#"flow { name = "f", run = function() local d = require "debug"; return { d == debug, d.sethook == nil } end }"#)
            run.expectSucceeded()
            #expect(run.report.result == .array([.bool(true), .bool(true)]))
        }
    }

    @Test("a missing plugin: where tide looked, relative to the home, without the home's absolute path")
    func missingPlugin() async throws {
        try await PluginHome.with([:]) { home in
            let run = try await home.exec(#"flow { name = "f", run = function() return require "nothere" end }"#)
            run.expectFailed()
            let message = run.report.errorMessage
            #expect(message.contains("module 'nothere' not found"), "\(message)")
            for looked in ["plugins/nothere.lua", "plugins/nothere/init.lua", "plugins/nothere.so"] {
                #expect(message.contains("no file '\(looked)'"), "\(looked) missing from: \(message)")
            }
            #expect(!run.output.combined.contains(home.path), "the home's absolute path leaked: \(run.output.combined)")
        }
    }

    @Test("two plugins with the same name in different forms are an error, not a silent pick",
          arguments: [["plugins/x.lua", "plugins/x/init.lua"], ["plugins/x.lua", "plugins/x.so"]])
    func sameNameTwice(files: [String]) async throws {
        try await PluginHome.with(Dictionary(uniqueKeysWithValues: files.map { ($0, "return { from = '\($0)' }") })) { home in
            let run = try await home.exec(#"flow { name = "f", run = function() return require("x").from end }"#)
            run.expectFailed()
            #expect(run.report.errorMessage.contains("plugin 'x' is ambiguous: \(files[0]) and \(files[1]) both exist"), "\(run.report.errorMessage)")
        }
    }

    @Test("a plugin cannot define flows")
    func noFlowsInPlugins() async throws {
        try await PluginHome.with(["plugins/sneaky.lua": #"flow { name = "hidden", run = function() end }; return {}"#]) { home in
            let run = try await home.exec(#"local s = require "sneaky"; flow { name = "f", run = function() end }"#)
            run.expectFailed()
            #expect(run.report.errorMessage.contains("flow{} cannot be called while a plugin loads"), "\(run.report.errorMessage)")
        }
    }

    @Test("a broken plugins.json fails the plugins that take settings, with the JSON error's line; others load")
    func brokenSettings() async throws {
        try await PluginHome.with([
            "plugins/greet.lua": greetPlugin,
            "plugins/plain.lua": "return { ok = true }",
            "plugins.json": "{\n  \"greet\": { \"prefix\": \"x\", }\n}\n",
        ]) { home in
            let plain = try await home.exec(#"flow { name = "f", run = function() return require("plain").ok end }"#)
            plain.expectSucceeded()
            let greet = try await home.exec(#"flow { name = "f", run = function() return require("greet").hi("x") end }"#)
            greet.expectFailed()
            #expect(greet.report.errorMessage.contains("plugin 'greet' failed to load: plugins.json: json.decode:"), "\(greet.report.errorMessage)")
            #expect(greet.report.errorMessage.contains("line 2"), "\(greet.report.errorMessage)")
        }
    }

    @Test("a setup that rejects its settings fails the plugin with its message")
    func setupRejectsSettings() async throws {
        try await PluginHome.with([
            "plugins/strict.lua": """
                local M = {}
                function M.setup(config)
                  if type(config.url) ~= "string" then error("strict: set url in plugins.json", 2) end
                end
                return M
                """,
        ]) { home in
            let run = try await home.exec(#"flow { name = "f", run = function() return require "strict" end }"#)
            run.expectFailed()
            #expect(run.report.errorMessage.contains("plugin 'strict' failed to load: plugins/strict.lua: setup(config) failed:"), "\(run.report.errorMessage)")
            #expect(run.report.errorMessage.contains("strict: set url in plugins.json"), "\(run.report.errorMessage)")
        }
    }

    @Test("tide check of a plugin file: ok with its name and version (JSON too); a file no require reaches is an error")
    func checkPluginFiles() async throws {
        try await PluginHome.with(["plugins/greet.lua": greetPlugin, "plugins/a.b.lua": "return {}"]) { home in
            let ok = try await home.check(["plugins/greet.lua"])
            #expect(ok.status == 0, "\(ok.combined)")
            #expect(ok.stdout.contains("plugin greet 1.2.0"), "\(ok.stdout)")
            let json = try await home.check(["plugins/greet.lua", "--json"])
            let report = try json.json()
            #expect(report["files"]?.array?.first?["plugin"]?.string == "greet")
            #expect(report["files"]?.array?.first?["version"]?.string == "1.2.0")
            let dotted = try await home.check(["plugins/a.b.lua"])
            #expect(dotted.status == 1)
            #expect(dotted.stdout.contains("plugins/a.b.lua: not a plugin"), "\(dotted.stdout)")
        }
    }

    @Test("a Lua C module from Debian (lua-cjson), linked into plugins/, loads in tide exec")
    func cjsonInExec() async throws {
        let cjson = try #require(PluginHome.cjson, "lua-cjson is not installed: run `make test`, which installs it (apt-get install lua-cjson)")
        try await PluginHome.with([:]) { home in
            // not linked: the error says where the system's copy is and how to link it
            let missing = try await home.exec(#"flow { name = "f", run = function() return require "cjson" end }"#)
            missing.expectFailed()
            #expect(missing.report.errorMessage.contains("ln -s \(cjson) plugins/cjson.so"), "\(missing.report.errorMessage)")

            try FileManager.default.createDirectory(atPath: home.path + "/plugins", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: home.path + "/plugins/cjson.so", withDestinationPath: cjson)
            let run = try await home.exec("""
                local cjson = require "cjson"
                flow { name = "f", run = function()
                  local text = cjson.encode({ items = { 1, 2, 3 }, name = "tide" })
                  local back = cjson.decode(text)
                  return { n = #back.items, name = back.name, version = cjson._VERSION }
                end }
                """)
            run.expectSucceeded()
            #expect(run.report.result?["n"] == .number(3))
            #expect(run.report.result?["name"] == .string("tide"))
            let check = try await home.check(["plugins/cjson.so"])
            #expect(check.status == 0 && check.stdout.contains("plugin cjson 2.1"), "\(check.combined)")
        }
    }
}
}  // extension PluginSuites
