// NotifyHTTPTests.swift: the notify and healthcheck plugins through the real `http` module, against
// a server on loopback, in `tide exec` and in the daemon's on = "run.failed" flow.
import Foundation
import HTTPTestServer
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension PluginSuites {
@Suite("notify and healthcheck over real HTTP")
struct NotifyHTTPTests {
    @Test("notify posts Slack, ntfy and webhook bodies; errors name the host, never the url's path")
    func notifyOverHTTP() async throws {
        try await HTTPTestServer.with { server in try await ShippedPlugins.withHome { home in
            let flow = try home.write("flows/n.lua", """
                local notify = require "notify"
                flow { name = "n", run = function(ctx)
                  local base = ctx.payload.base
                  local out = {}
                  local slack = notify.send("deploy done", { title = "web", target = { url = base .. "/echo", format = "slack", token = "s3cret" } })
                  out.slack = json.decode(slack[1].body)
                  local ntfy = notify.send("disk full", { title = "srv1", priority = "high", tags = { "warning" },
                                                          target = { url = base .. "/echo/ops-alerts", format = "ntfy" } })
                  out.ntfy = json.decode(ntfy[1].body)
                  local hook = notify.event({ event = "run.failed", run_id = "run_1", flow = "backup", status = "failed",
                                              duration_ms = 1500, error = { message = "tar exited 2" } },
                                            { target = { url = base .. "/echo" } })
                  out.hook = json.decode(hook[1].body)
                  local ok, e = pcall(notify.send, "x", { target = { url = base .. "/status/403", format = "slack" } })
                  out.denied = e
                  local ok2, e2 = pcall(notify.send, "x", { target = { url = ctx.payload.refused .. "/secret-token", format = "slack" } })
                  out.refused = e2
                  return out
                end }
                """)
            // a port nobody listens on: bind one and close it
            let closed = try await HTTPTestServer.start()
            let refused = "http://127.0.0.1:\(closed.port)"
            await closed.stop()
            let payload = #"{"base":"\#(server.url(""))","refused":"\#(refused)"}"#
            let output = try await TideProcess.run(["exec", flow, "--json", "--payload", payload], in: home.url)
            let report = try ExecReport(output)
            #expect(report.status == "succeeded", "\(report.errorMessage)\n\(output.stderr.suffix(2000))")
            let r = try #require(report.result)

            // Slack: {text}, JSON, the token as a bearer
            #expect(r["slack"]?["method"]?.string == "POST")
            #expect(r["slack"]?["headers"]?["content-type"]?.string == "application/json")
            #expect(r["slack"]?["headers"]?["authorization"]?.string == "Bearer s3cret")
            #expect(try JSONValue.parse(r["slack"]?["body"]?.string ?? "") == .object(["text": .string("*web*\ndeploy done")]))
            // ntfy: JSON publishing to the server (under its path prefix), the topic in the body
            #expect(r["ntfy"]?["path"]?.string == "/echo")
            let ntfy = try JSONValue.parse(r["ntfy"]?["body"]?.string ?? "")
            #expect(ntfy == .object(["topic": .string("ops-alerts"), "message": .string("disk full"), "title": .string("srv1"),
                                     "priority": .number(4), "tags": .array([.string("warning")])]), "\(ntfy)")
            // a plain webhook: the event's title and message
            let hook = try JSONValue.parse(r["hook"]?["body"]?.string ?? "")
            #expect(hook["title"]?.string == "backup failed")
            #expect(hook["message"]?.string == "Run run_1 of backup failed after 1.5s:\ntar exited 2")
            // failures: code notify, the host named, the path (a webhook's secret) not
            #expect(r["denied"]?["code"]?.string == "notify")
            #expect(r["denied"]?["status"]?.number == 403)
            #expect(r["denied"]?["message"]?.string == "notify: slack 127.0.0.1:\(server.port) answered 403: status 403", "\(r["denied"] ?? .null)")
            #expect(r["refused"]?["code"]?.string == "notify", "\(r["refused"] ?? .null)")
            let refusedMessage = r["refused"]?["message"]?.string ?? ""
            #expect(refusedMessage.hasPrefix("notify: slack 127.0.0.1:\(closed.port): "), "\(refusedMessage)")
            #expect(!refusedMessage.contains("secret-token"), "the url's path leaked: \(refusedMessage)")
        } }
    }

    @Test("healthcheck pings start, success and failure; a failing ping never fails the run")
    func healthcheckOverHTTP() async throws {
        try await HTTPTestServer.with { server in try await ShippedPlugins.withHome { home in
            try #"{"healthcheck": {"base": "\#(server.url("/echo"))"}}"#.write(toFile: home.path + "/plugins.json", atomically: true, encoding: .utf8)
            let flow = try home.write("flows/h.lua", """
                local hc = require "healthcheck"
                flow { name = "job", run = hc.wrap(function(ctx)
                  if ctx.payload.fail then error("disk full") end
                  return "done"
                end) }
                """)
            let ok = try ExecReport(try await TideProcess.run(["exec", flow, "--json"], in: home.url))
            #expect(ok.status == "succeeded" && ok.result == .string("done"), "\(ok.errorMessage)")
            let failed = try ExecReport(try await TideProcess.run(["exec", flow, "--json", "--payload", #"{"fail":true}"#], in: home.url))
            #expect(failed.status == "failed")
            #expect(failed.errorMessage.hasSuffix("disk full"), "the run's own error: \(failed.errorMessage)")
            // /echo/job answers 200; /echo/job/start and /echo/job/fail are 404s here, logged, not raised
            #expect(server.stats.paths == ["/echo/job/start", "/echo/job", "/echo/job/start", "/echo/job/fail"], "\(server.stats.paths)")
        } }
    }

    @Test("the daemon's on = \"run.failed\" flow posts the failure to a webhook")
    func onFailureOverHTTP() async throws {
        try await HTTPTestServer.with { server in try await Lifecycle.withHome { home in
            let fm = FileManager.default
            let dir = home.dir
            try fm.createDirectory(atPath: dir.path + "/flows", withIntermediateDirectories: true)
            for name in ["on-failure.lua", "saga.lua"] {
                try fm.copyItem(atPath: ShippedPlugins.root + "/examples/flows/" + name, toPath: dir.path + "/flows/" + name)
            }
            try fm.createSymbolicLink(atPath: dir.path + "/plugins", withDestinationPath: ShippedPlugins.root + "/plugins")
            try #"{"notify": {"url": "\#(server.url("/echo"))", "format": "slack"}}"#.write(toFile: dir.path + "/plugins.json", atomically: true, encoding: .utf8)
            let d = try await home.start()
            let failed = try await d.tide(["run", "saga", "--payload", #"{"fail_at":"ship"}"#])
            #expect(failed.status == 1)
            #expect(await Lifecycle.waitFor { server.stats.paths.contains("/echo") }, "nothing was posted; log:\n\(d.log.suffix(3000))")
            #expect(await Lifecycle.waitFor {
                try await Lifecycle.rpc(d, "runs.list", ["flow": "on-failure"])["runs"]?.array?.first?["status"]?.string == "succeeded"
            }, "log:\n\(d.log.suffix(3000))")
        } }
    }
}
}  // extension PluginSuites
