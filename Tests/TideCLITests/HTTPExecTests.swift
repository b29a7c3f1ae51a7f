// HTTPExecTests.swift: http in `tide exec`, end to end, against a real server on loopback.
import Foundation
import HTTPTestServer
import Testing

@Suite("tide exec with http")
struct HTTPExecTests {
    @Test("a flow fetches, posts and decodes JSON; the process exits cleanly after closing the client")
    func fetchAndPost() async throws {
        try await withServer { server in
            let run = try await ExecRun.run("""
                flow { name = "fetch", run = function(ctx)
                  local doc = http.get("\(server.url("/json"))"):json()
                  local echo = http.post("\(server.url("/echo"))", { user = "ada" }).json()
                  local missing = http.get("\(server.url("/status/404"))")
                  return { hello = doc.hello, sent = echo.body, type = echo.headers["content-type"], missing = missing.status }
                end }
                """)
            run.expectSucceeded()
            #expect(run.report.result == .object([
                "hello": .string("world"), "sent": .string(#"{"user":"ada"}"#), "type": .string("application/json"),
                "missing": .number(404),
            ]))
            #expect(!run.output.stderr.localizedCaseInsensitiveContains("shut"), "stderr: \(run.output.stderr)")
        }
    }

    @Test("an uncaught http failure fails the run with code http, its status and the URL in the report")
    func failureInTheReport() async throws {
        try await withServer { server in
            let run = try await ExecRun.run("""
                flow { name = "check", run = function(ctx)
                  return http.get("\(server.url("/status/503"))", { check = true })
                end }
                """)
            run.expectFailed()
            #expect(run.report.error?["code"]?.string == "http")
            #expect(run.report.error?["status"] == .number(503))
            #expect(run.report.errorMessage == "GET \(server.url("/status/503")) returned status 503: status 503")
        }
    }

    @Test("a 1 GB answer is refused at the cap with little memory: peak RSS stays far below the body")
    func gigabyteStaysSmall() async throws {
        try await withServer { server in
            let run = try await ExecRun.run("""
                flow { name = "big", run = function(ctx)
                  local ok, err = pcall(http.get, "\(server.url("/stream?bytes=1073741824"))")
                  local f = io.open("/proc/self/status")
                  local status = f:read("a")
                  f:close()
                  return { reason = err.reason, peak_kb = tonumber(status:match("VmHWM:%s*(%d+)")) }
                end }
                """)
            run.expectSucceeded()
            #expect(run.report.result?["reason"]?.string == "too_large")
            let peak = run.report.result?["peak_kb"]?.number ?? .infinity
            #expect(peak < 300_000, "peak RSS \(peak) KiB with the 64 MiB cap")
            #expect(server.stats.bytesStreamed < 128 << 20, "\(server.stats.summary)")
        }
    }

    @Test("tide serve: a run uses http; stopping the daemon mid-request aborts it and exits 0, client shut down")
    func daemonShutdown() async throws {
        try await withServer { server in
            let flows = [
                "flows/fetch.lua": "flow { name = 'fetch', run = function() return http.get('\(server.url("/json"))'):json().hello end }",
                "flows/stuck.lua": "flow { name = 'stuck', run = function() return http.get('\(server.url("/hang"))').status end }",
            ]
            try await withScratchDirectory { home in
                for (name, text) in flows { try home.write(name, text) }
                let daemon = try await RunningDaemon(home: home, arguments: ["--grace-period", "500ms"])
                let fetched = try await daemon.tide(["run", "fetch", "--json"])
                #expect(fetched.status == 0, "\(fetched.combined)")
                #expect((try? fetched.json())?["result"]?.string == "world", "\(fetched.stdout)")
                let detached = try await daemon.tide(["run", "stuck", "--detach"])
                #expect(detached.status == 0, "\(detached.combined)")
                #expect(await waitUntil(timeout: .seconds(30)) { server.stats.hangingNow == 1 }, "\(server.stats.summary)")
                let status = await daemon.stop()
                #expect(status == 0, "tide serve exited \(status); log:\n\(daemon.log)")
                #expect(await waitUntil(timeout: .seconds(15)) { server.stats.abortedCount("/hang") == 1 }, "\(server.stats.summary)")
                #expect(!daemon.log.contains("Fatal") && !daemon.log.contains("not shut down"), "\(daemon.log)")
            }
        }
    }

    @Test("tide serve: never-answering, 1 GB, malformed, refused and untrusted-TLS calls fail their runs clearly; the daemon keeps serving")
    func daemonKeepsServingAfterBadHTTP() async throws {
        try await withServer { server in
            try await withScratchDirectory { home in
                let certificate = try await HTTPTestCertificate.shared()
                let tls = try await HTTPTestServer.start(tls: certificate)
                let refused = try await HTTPTestServer.start()
                let refusedURL = refused.url("/x")
                await refused.stop()
                let cases = [
                    "hang": "http.get('\(server.url("/hang"))', { timeout = '1s' })",
                    "huge": "http.get('\(server.url("/stream?bytes=1073741824"))')",
                    "malformed": "http.get('http//missing-colon/x')",
                    "refused": "http.get('\(refusedURL)')",
                    "tls": "http.get('\(tls.url("/json"))')",
                ]
                for (name, call) in cases {
                    try home.write("flows/\(name).lua", "flow { name = '\(name)', run = function() return \(call) end }")
                }
                try home.write("flows/fetch.lua", "flow { name = 'fetch', run = function() return http.get('\(server.url("/json"))'):json().hello end }")
                let daemon = try await RunningDaemon(home: home)
                let expected = ["hang": "timeout", "huge": "http", "malformed": "http", "refused": "http", "tls": "http"]
                for (name, code) in expected.sorted(by: { $0.key < $1.key }) {
                    let run = try await daemon.tide(["run", name, "--json"])
                    let report = try? run.json()
                    #expect(run.status == 1, "\(name): \(run.combined)")
                    #expect(report?["error"]?["code"]?.string == code, "\(name): \(run.stdout)")
                    #expect(report?["error"]?["message"]?.string?.isEmpty == false, "\(name): \(run.stdout)")
                }
                let fetched = try await daemon.tide(["run", "fetch", "--json"])
                #expect((try? fetched.json())?["result"]?.string == "world", "\(fetched.combined)")
                let status = await daemon.stop()
                #expect(status == 0, "\(daemon.log)")
                await tls.stop()
            }
        }
    }

    private func withServer(_ body: (HTTPTestServer) async throws -> Void) async throws {
        let server = try await HTTPTestServer.start()
        do {
            try await body(server)
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
