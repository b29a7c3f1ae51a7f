// PluginDaemonTests.swift: plugins in the real `tide serve`: validation at reload (plugins.list,
// tide plugins, tide flows), bad plugins that never stop the daemon serving, hot reload of plugins
// and plugins.json, and a Lua C module from Debian.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension PluginSuites {
@Suite("plugins in the daemon")
struct PluginDaemonTests {
    typealias L = Lifecycle

    static let badPlugins: [String: String] = [
        "plugins/greet.lua": greetPlugin,
        "plugins.json": #"{"greet": {"prefix": "howdy"}, "greeet": {"prefix": "typo"}}"#,
        "plugins/bad.lua": "local M = {}\nlocal x = = 1\nreturn M\n",
        "plugins/boom.lua": "local M = {}\n\nerror(\"boom at load\")\nreturn M\n",
        "plugins/spin.lua": "local M = {}\nwhile true do end\nreturn M\n",
        "plugins/json.lua": "return { fake = true }\n",
        "plugins/dup.lua": "return {}\n",
        "plugins/dup/init.lua": "return {}\n",
        "flows/ok.lua": #"local greet = require "greet"; flow { name = "ok", run = function() return greet.hi("ada") end }"#,
        "flows/free.lua": #"flow { name = "free", run = function() return require("json").encode({1}) end }"#,
        "flows/needs-bad.lua": #"local bad = require "bad"; flow { name = "needs-bad", run = function() end }"#,
        "flows/needs-boom.lua": #"local boom = require "boom"; flow { name = "needs-boom", run = function() end }"#,
        "flows/needs-spin1.lua": #"local s = require "spin"; flow { name = "needs-spin1", run = function() end }"#,
        "flows/needs-spin2.lua": #"local s = require "spin"; flow { name = "needs-spin2", run = function() end }"#,
        "flows/needs-spin3.lua": #"local s = require "spin"; flow { name = "needs-spin3", run = function() end }"#,
        "flows/needs-dup.lua": #"local d = require "dup"; flow { name = "needs-dup", run = function() end }"#,
        "flows/needs-missing.lua": #"local m = require "nothere"; flow { name = "needs-missing", run = function() end }"#,
    ]

    @Test("bad plugins at reload: each reported with file:line; flows that require one fail naming it; the rest serve")
    func badPluginsAreReported() async throws {
        try await L.withHome(files: Self.badPlugins) { home in
            let clock = ContinuousClock()
            let started = clock.now
            let d = try await home.start()
            #expect(clock.now - started < .seconds(25), "start-up took \(clock.now - started)")

            let list = try await L.rpc(d, "plugins.list")
            let plugins = list["plugins"]?.array ?? []
            #expect(plugins.compactMap { $0["name"]?.string } == ["greet"], "\(list)")
            let greet = plugins.first
            #expect(greet?["version"]?.string == "1.2.0")
            #expect(greet?["description"]?.string == "Says hello")
            #expect(greet?["file"]?.string == "plugins/greet.lua")
            #expect(greet?["configured"] == .bool(true))
            #expect(greet?["has_setup"] == .bool(true))
            #expect(list["settings"]?.string == "plugins.json")
            var errors: [String: String] = [:]
            for e in list["errors"]?.array ?? [] { errors[e["file"]?.string ?? "?"] = e["error"]?.string }
            #expect(errors["plugins/bad.lua"]?.hasPrefix("plugins/bad.lua:2:") == true, "\(errors)")
            #expect(errors["plugins/boom.lua"] == "plugins/boom.lua:3: boom at load", "\(errors)")
            #expect(errors["plugins/spin.lua"]?.hasPrefix("plugins/spin.lua: loading took longer than 2 s") == true, "\(errors)")
            #expect(errors["plugins/json.lua"]?.contains("'json' is a built-in module of flows") == true, "\(errors)")
            #expect(errors["plugins/dup.lua"]?.contains("plugin 'dup' is ambiguous: plugins/dup.lua and plugins/dup/init.lua both exist") == true, "\(errors)")
            #expect(errors["plugins.json"]?.contains("settings for 'greeet', but there is no plugin of that name") == true, "\(errors)")

            let text = try await d.tide(["plugins"])
            #expect(text.status == 0, "\(text.combined)")
            for needle in ["greet", "1.2.0", "plugins/greet.lua", "Says hello", "failed to load (6)", "plugins/bad.lua:2:", "plugins/spin.lua: loading took longer"] {
                #expect(text.stdout.contains(needle), "tide plugins lacks \(needle):\n\(text.stdout)")
            }

            let fileErrors = try await L.fileErrors(d)
            #expect(fileErrors["flows/needs-bad.lua"]?.hasPrefix("flows/needs-bad.lua:1: plugin 'bad' failed to load: plugins/bad.lua:2:") == true, "\(fileErrors)")
            #expect(fileErrors["flows/needs-boom.lua"]?.hasPrefix("flows/needs-boom.lua:1: plugin 'boom' failed to load: plugins/boom.lua:3: boom at load") == true, "\(fileErrors)")
            for n in 1...3 {
                // from the validation: the flows never ran the loop again (one load limit, not one per flow)
                #expect(fileErrors["flows/needs-spin\(n).lua"]?.contains("plugin 'spin' failed to load: plugins/spin.lua: loading took longer than 2 s (an endless loop at its top level or in setup?) (tide plugins lists the plugins that fail)") == true, "\(fileErrors)")
            }
            #expect(fileErrors["flows/needs-dup.lua"]?.contains("plugin 'dup' is ambiguous") == true, "\(fileErrors)")
            let missing = fileErrors["flows/needs-missing.lua"] ?? ""
            #expect(missing.contains("module 'nothere' not found") && missing.contains("no file 'plugins/nothere.lua'"), "\(missing)")
            #expect(!missing.contains(home.dir.path), "the home's absolute path leaked: \(missing)")
            // tide flows shows the plugins' own errors too
            #expect(fileErrors["plugins/spin.lua"] != nil && fileErrors["plugins/bad.lua"] != nil, "\(fileErrors)")
            let flowsText = try await d.tide(["flows"])
            #expect(flowsText.stdout.contains("plugins/bad.lua:2:"), "\(flowsText.stdout)")

            // the other flows serve, with their settings; require "json" is the built-in
            let ok = try await d.tide(["run", "ok", "--json"])
            #expect(ok.status == 0 && (try? ok.json()["result"]) == .string("howdy, ada"), "\(ok.combined)")
            let free = try await d.tide(["run", "free", "--json"])
            #expect(free.status == 0 && (try? free.json()["result"]) == .string("[1]"), "\(free.combined)")
            let failing = try await d.tide(["run", "needs-bad"])
            #expect(failing.status == 1, "\(failing.combined)")

            // a reload validates again: one load limit, then every flow at once
            let before = clock.now
            let reload = try await d.tide(["reload", "--json"])
            #expect(reload.status == 0, "\(reload.combined)")
            #expect(clock.now - before < .seconds(25), "reload took \(clock.now - before)")
            let bad = try await d.call("plugins.list", ["extra": 1])
            #expect((bad["error"] as? [String: Any])?["code"] as? Int == -32602)
            let status = try await L.rpc(d, "daemon.status")
            #expect(status["flows"]?.number == 2, "\(status)")  // ok and free
        }
    }

    @Test("hot reload: new runs see a changed plugin and changed settings; a run in progress keeps what it required")
    func hotReload() async throws {
        try await L.withHome(files: [
            "plugins/ver.lua": "local M = { v = 1, label = '?' }\nfunction M.setup(c) M.label = c.label or 'none' end\nreturn M\n",
            "plugins/late.lua": "return { v = 1 }\n",
            "plugins.json": #"{"ver": {"label": "first"}}"#,
            "flows/use.lua": #"local ver = require "ver"; flow { name = "use", run = function() return { ver.v, ver.label } end }"#,
            "flows/slow.lua": """
                local ver = require "ver"
                flow { name = "slow", timeout = "60s", run = function(ctx)
                  while not io.open(ctx.payload.release) do sleep("50ms") end
                  return { ver = ver.v, late = require("late").v }
                end }
                """,
        ]) { home in
            let d = try await home.start()
            try await L.waitForWatcher(home, d)
            @Sendable func use() async throws -> JSONValue? { try await d.tide(["run", "use", "--json"]).json()["result"] }
            #expect(try await use() == .array([.number(1), .string("first")]))

            let release = home.dir.path + "/release"
            let slow = try await L.detach(d, "slow", payload: #"{"release":"\#(release)"}"#)
            #expect(await L.waitFor { try await L.runStatus(d, slow) == "running" })
            try await Task.sleep(for: .milliseconds(300))  // past its top level: it has required ver v1

            try home.overwrite("plugins/ver.lua", "local M = { v = 2, label = '?' }\nfunction M.setup(c) M.label = c.label or 'none' end\nreturn M\n")
            try home.overwrite("plugins/late.lua", "return { v = 2 }\n")
            #expect(await L.waitFor { try await use() == .array([.number(2), .string("first")]) },
                    "a new run did not see the changed plugin; log:\n\(d.log.suffix(3000))")

            _ = FileManager.default.createFile(atPath: release, contents: Data())
            #expect(await L.waitFor { try await L.runStatus(d, slow) == "succeeded" })
            let finished = try await L.rpc(d, "run.get", ["run_id": slow])
            // what it had required stays; what it requires after the change is the new file
            #expect(finished["result"] == .object(["ver": .number(1), "late": .number(2)]), "\(finished)")

            try home.overwrite("plugins.json", #"{"ver": {"label": "second"}}"#)
            #expect(await L.waitFor { try await use() == .array([.number(2), .string("second")]) },
                    "setup did not get the changed settings; log:\n\(d.log.suffix(3000))")

            // a plugin that breaks: the flows that require it keep their old version listed (stale),
            // with the error naming the plugin; runs fail with it; a fix brings them back
            try home.overwrite("plugins/ver.lua", "local M = {\nreturn M\n")
            #expect(await L.waitFor { try await L.fileErrors(d)["flows/use.lua"]?.contains("plugin 'ver' failed to load: plugins/ver.lua:2:") == true },
                    "log:\n\(d.log.suffix(3000))")
            #expect(try await L.flow(d, "use")?["stale"] == .bool(true))
            let broken = try await d.tide(["run", "use", "--json"])
            #expect(broken.status == 1)
            #expect((try? broken.json()["error"]?["message"]?.string)??.contains("plugins/ver.lua:2:") == true, "\(broken.stdout)")
            try home.overwrite("plugins/ver.lua", "return { v = 3, label = 'fixed' }\n")
            #expect(await L.waitFor { try await L.fileErrors(d).isEmpty }, "log:\n\(d.log.suffix(3000))")
            #expect(try await use() == .array([.number(3), .string("fixed")]))
        }
    }

    @Test("a Lua C module from Debian (lua-cjson) linked into plugins/ loads in the daemon's runs")
    func cjsonInDaemon() async throws {
        let cjson = try #require(PluginHome.cjson, "lua-cjson is not installed: run `make test`, which installs it (apt-get install lua-cjson)")
        try await L.withHome(files: [
            "flows/c.lua": """
                local cjson = require "cjson"
                flow { name = "c", run = function(ctx)
                  return cjson.decode(cjson.encode({ answer = 42, list = { "a", "b" } }))
                end }
                -- cjson.safe lives in cjson.so too (Lua's all-in-one loader): errors are values
                flow { name = "safe", run = function(ctx)
                  local safe = require "cjson.safe"
                  local value, err = safe.decode("{")
                  return { value = value == nil, err = err ~= nil, same = safe ~= cjson }
                end }
                """,
        ]) { home in
            try FileManager.default.createDirectory(atPath: home.dir.path + "/plugins", withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: home.dir.path + "/plugins/cjson.so", withDestinationPath: cjson)
            let d = try await home.start()
            let run = try await d.tide(["run", "c", "--json"])
            #expect(run.status == 0, "\(run.combined)")
            #expect((try? run.json()["result"]) == .object(["answer": .number(42), "list": .array([.string("a"), .string("b")])]), "\(run.stdout)")
            let list = try await L.rpc(d, "plugins.list")
            let entry = list["plugins"]?.array?.first { $0["name"]?.string == "cjson" }
            #expect(entry?["kind"]?.string == "c", "\(list)")
            #expect(entry?["version"]?.string?.hasPrefix("2.1") == true, "\(list)")
            #expect(entry?["file"]?.string == "plugins/cjson.so")
            let safe = try await d.tide(["run", "safe", "--json"])
            #expect((try? safe.json()["result"]) == .object(["value": .bool(true), "err": .bool(true), "same": .bool(true)]), "\(safe.combined)")
        }
    }

    @Test("runs are told the failing plugins of the last validation: a plugin that loops at load is not run again by each run")
    func runsKnowFailingPlugins() async throws {
        try await L.withHome(files: [
            "plugins/spin.lua": "while true do end\n",
            "flows/use.lua": """
                flow { name = "use", run = function(ctx) require "spin" end }
                flow { name = "fine", run = function(ctx) return "fine" end }
                """,
        ]) { home in
            let d = try await home.start()
            let run = try await d.tide(["run", "use", "--json"])
            #expect(run.status == 1)
            let message = (try? run.json()["error"]?["message"]?.string) ?? nil
            // the catalog's error, with its pointer to the listing: not a new load that spun again
            #expect(message?.contains("plugin 'spin' failed to load: plugins/spin.lua: loading took longer than 2 s") == true, "\(run.stdout)")
            #expect(message?.hasSuffix("(tide plugins lists the plugins that fail)") == true, "\(run.stdout)")
            let fine = try await d.tide(["run", "fine", "--json"])
            #expect(fine.status == 0, "\(fine.combined)")
        }
    }

    @Test("a module inside plugins/ that does not compile is listed by tide plugins, and requiring it fails with its file:line")
    func brokenNamespaceModule() async throws {
        try await L.withHome(files: [
            "plugins/lib/util.lua": "local M = {}\nM. = 1\nreturn M\n",
            "plugins/lib/good.lua": "return { answer = 42 }\n",
            "flows/use.lua": """
                flow { name = "bad", run = function(ctx) require "lib.util" end }
                flow { name = "good", run = function(ctx) return require("lib.good").answer end }
                """,
        ]) { home in
            let d = try await home.start()
            let listing = try await d.tide(["plugins"])
            #expect(listing.stdout.contains("plugins/lib/util.lua:2: <name> expected near '='"), "\(listing.combined)")
            #expect(!listing.stdout.contains("lib/good.lua"), "\(listing.combined)")
            let bad = try await d.tide(["run", "bad", "--json"])
            #expect((try? bad.json()["error"]?["message"]?.string)??.contains("plugin 'lib.util' failed to load: plugins/lib/util.lua:2:") == true, "\(bad.stdout)")
            let good = try await d.tide(["run", "good", "--json"])
            #expect((try? good.json()["result"]) == .number(42), "\(good.combined)")
        }
    }
}
}  // extension PluginSuites
