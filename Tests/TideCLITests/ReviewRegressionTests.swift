// ReviewRegressionTests.swift: defects an outside review found in the daemon, each kept fixed.
import Foundation
import Testing

@Suite("daemon review regressions")
struct ReviewRegressionTests {
    @Test("run.logs with a huge 'after' is invalid params, not a crash")
    func hugeAfter() async throws {
        try await withDaemon(files: ["flows/a.lua": #"flow { run = function() return 1 end }"#]) { daemon in
            for after in ["1e19", "9223372036854775807", "-1", "1.5"] {
                let socket = daemon.socket
                let reply = try await blocking { () -> String in
                    let c = try RawConnection(path: socket)
                    try c.send(#"{"jsonrpc":"2.0","id":1,"method":"run.logs","params":{"run_id":"x","after":\#(after)}}"# + "\n")
                    return try c.readLine() ?? ""
                }
                #expect(reply.contains("-32602"), "after=\(after): \(reply)")
            }
            #expect(try await daemon.tide(["status"]).status == 0)
        }
    }

    @Test("a --socket path that is a regular file is refused and the file is kept")
    func socketOverFile() async throws {
        try await withScratchDirectory { home in
            let notes = try home.write("notes.txt", "precious")
            let out = try await TideProcess.run(["serve", "--home", home.path, "--socket", notes], in: home.url, timeout: .seconds(20))
            #expect(out.status == 1)
            #expect(out.stderr.contains("not a socket"))
            #expect((try? String(contentsOfFile: notes, encoding: .utf8)) == "precious")
        }
    }

    @Test("--grace-period inf or 1e30s is a usage error, not a trap")
    func infiniteGrace() async throws {
        try await withScratchDirectory { home in
            for value in ["inf", "1e30s", "nan"] {
                let out = try await TideProcess.run(["serve", "--home", home.path, "--grace-period", value], in: home.url, timeout: .seconds(20))
                #expect(out.status == 2, "\(value): \(out.stderr)")
                #expect(out.stderr.contains("--grace-period"))
            }
        }
    }

    @Test("SIGTERM ends the daemon while a client waits on a queued run; the run stays queued")
    func stopWithWaiterOnQueuedRun() async throws {
        let flow = #"flow { name = "solo", max_concurrent = 1, run = function() sh("sleep 30.913") end }"#
        try await withScratchDirectory { home in
            try home.write("flows/solo.lua", flow)
            let daemon = try await RunningDaemon(home: home, arguments: ["--grace-period", "200ms"])
            let first = try await daemon.tide(["run", "solo", "--detach"])
            #expect(first.status == 0)
            let socket = daemon.socket
            // a waiter on a second run, which queues behind the first
            let waiter = Task {
                try await blocking { () -> String in
                    let c = try RawConnection(path: socket)
                    try c.send(#"{"jsonrpc":"2.0","id":7,"method":"run.start","params":{"flow":"solo","wait":true}}"# + "\n")
                    return (try? c.readLine()) ?? "closed"
                }
            }
            let queued = await waitUntil(timeout: .seconds(20)) {
                (try? RawConnection(path: socket).request("daemon.status")["result"] as? [String: Any])?["queued"] as? Int == 1
            }
            #expect(queued)
            let status = await daemon.stop(signal: SIGTERM, timeout: .seconds(20))
            #expect(status == 0)
            _ = try? await waiter.value
            let restarted = try await RunningDaemon(home: home, arguments: ["--grace-period", "200ms"])
            let runs = try await restarted.tide(["runs", "--flow", "solo", "--json"])
            #expect(runs.stdout.contains("\"cancelled\""))  // the first, cancelled at shutdown
            #expect(runs.stdout.contains("\"running\"") || runs.stdout.contains("\"queued\""))  // the second resumed
            await restarted.stop(signal: SIGKILL)
            _ = try? Process.run(URL(fileURLWithPath: "/usr/bin/pkill"), arguments: ["-f", "sleep 30.913"])
        }
    }
}
