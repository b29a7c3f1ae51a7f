// HTTPCancellationTests.swift: SPEC §3.1 for http: waiting yields, cancelling closes the connection.
import Foundation
import HTTPTestServer
import Testing
import TideEngine
import TideProtocol

@Suite("http cancellation and concurrency")
struct HTTPCancellationTests {
    @Test("a race loser's request is aborted: the server sees its connection close")
    func raceLoserAborted() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                return race({
                  fast = function() http.get("\(server.url("/when-hanging"))") return "fast" end,
                  slow = function() return http.get("\(server.url("/hang"))").status end,
                })
                """))
            #expect(o.value == "fast", "\(o.errorMessage)")
            #expect(await waitUntil(seconds: 15) { server.stats.abortedCount("/hang") == 1 } != nil, "\(server.stats.summary)")
            #expect(server.stats.inFlight == 0)
        }
    }

    @Test("timeout(d, fn) aborts the request inside it")
    func timeoutWrapperAborts() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local ok, err = pcall(timeout, "2s", function() return http.get("\(server.url("/hang"))") end)
                return err.code
                """))
            #expect(o.value == "timeout", "\(o.errorMessage)")
            #expect(await waitUntil(seconds: 15) { server.stats.abandoned("/hang") } != nil, "\(server.stats.summary)")
        }
    }

    @Test("a fail-fast parallel aborts its sibling's request")
    func failFastAborts() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                parallel(function() http.get("\(server.url("/hang"))") end,
                         function() http.get("\(server.url("/when-hanging"))") error("boom") end)
                """))
            #expect(o.status == .failed && o.errorMessage.hasSuffix("boom"), "\(o.errorMessage)")
            #expect(await waitUntil(seconds: 15) { server.stats.abortedCount("/hang") == 1 } != nil, "\(server.stats.summary)")
        }
    }

    @Test("cancelling the run aborts its request and the run ends cancelled")
    func runCancelAborts() async throws {
        try await withHTTPServer { server in
            let task = Task { await runFlow(script(#"http.get("\#(server.url("/hang"))")"#)) }
            #expect(await waitUntil(seconds: 30) { server.stats.inFlight == 1 } != nil, "the request never arrived")
            task.cancel()
            let o = await task.value
            #expect(o.status == .cancelled && o.errorCode == "cancelled")
            #expect(await waitUntil(seconds: 15) { server.stats.abortedCount("/hang") == 1 } != nil, "\(server.stats.summary)")
        }
    }

    @Test("a parallel of 50 requests overlaps in time: the server has them all in flight at once")
    func parallelOverlaps() async throws {
        try await withHTTPServer { server in
            let start = ContinuousClock.now
            let o = await runFlow(script("""
                local tasks = {}
                for i = 1, 50 do tasks[i] = function() return http.get("\(server.url("/slow?ms=2000"))").body end end
                local results = parallel(tasks)
                return #results
                """))
            let took = ContinuousClock.now - start
            #expect(o.value == 50, "\(o.errorMessage)")
            // one after another they would take 100 s; on a loaded machine not all start within 2 s
            #expect(server.stats.maxInFlight >= 25, "at most \(server.stats.maxInFlight) requests in flight at once")
            #expect(took < .seconds(40), "took \(took): the requests ran one after another")
        }
    }

    @Test("more requests than connections per host queue for a connection and all succeed")
    func moreThanThePoolHolds() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local tasks = {}
                for i = 1, 150 do tasks[i] = function() return http.get("\(server.url("/slow?ms=50"))").status end end
                local ok = 0
                for _, s in ipairs(parallel(tasks)) do if s == 200 then ok = ok + 1 end end
                return ok
                """))
            #expect(o.value == 150, "\(o.errorMessage)")
            #expect(server.stats.maxInFlight <= 64, "more connections than the pool allows: \(server.stats.maxInFlight)")
        }
    }

    @Test("waiting for a response yields: the other tasks keep running meanwhile")
    func waitingYields() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local order = {}
                parallel(
                  function() http.get("\(server.url("/slow?ms=1500"))") order[#order + 1] = "http" end,
                  function() for i = 1, 5 do sleep("20ms") order[#order + 1] = "tick" end end)
                return order
                """))
            #expect(o.value == ["tick", "tick", "tick", "tick", "tick", "http"], "\(o.errorMessage)")
        }
    }
}
