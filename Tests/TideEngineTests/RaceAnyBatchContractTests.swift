// RaceAnyBatchContractTests.swift: SPEC §3.3, the rows of race, any and batch.
import Testing
import TideEngine

@Suite("race")
struct RaceContractTests {
    @Test("returns value, key of the first task to finish; the others are cancelled")
    func firstToFinish() async {
        let o = await runFlow(script("""
            local closed = false
            local v, k = race({
              primary = function() local g <close> = setmetatable({}, {__close = function() closed = true end}) sleep(2) return "primary" end,
              backup = function() sleep(1) return "backup" end })
            return { v = v, k = k, closed = closed }
            """), virtualTime: true)
        #expect(o.value == ["v": "backup", "k": "backup", "closed": true])
    }

    @Test("if the first to finish failed, its error is raised and the others are cancelled")
    func firstFinishedFailed() async {
        let o = await runFlow(script("""
            local finished = false
            local ok, e = pcall(race, {
              function() sleep(1) error({code = "DOWN"}) end,
              function() sleep(2) finished = true return "late" end })
            return { ok = ok, code = e.code, finished = finished }
            """), virtualTime: true)
        #expect(o.value == ["ok": false, "code": "DOWN", "finished": false])
    }

    @Test("with no tasks raises an empty error")
    func emptyRaises() async {
        let o = await runFlow(script("local ok, e = pcall(race, {}) return { ok, e.code }"))
        #expect(o.value == [false, "empty"])
    }

    @Test("timeout cancels every task and raises timeout")
    func timeout() async {
        let o = await runFlow(script("local ok, e = pcall(race, { function() sleep(5) end }, { timeout = 1 }) return e.code"), virtualTime: true)
        #expect(o.value == "timeout")
    }

    @Test("settle is not an option of race")
    func rejectsSettle() async {
        let o = await runFlow(script("race({ function() end }, { settle = true })"))
        #expect(o.errorMessage.contains("bad argument #2 to 'race' (unknown option 'settle')"))
    }
}

@Suite("any")
struct AnyContractTests {
    @Test("returns value, key of the first task to succeed; failures are ignored; the rest cancelled")
    func firstSuccess() async {
        let o = await runFlow(script("""
            local cancelled = true
            local v, k = any({
              a = function() sleep(1) error("a down", 0) end,
              b = function() sleep(2) return "b" end,
              c = function() sleep(3) cancelled = false return "c" end })
            return { v = v, k = k, cancelled = cancelled }
            """), virtualTime: true)
        #expect(o.value == ["v": "b", "k": "b", "cancelled": true])
    }

    @Test("when all fail raises aggregate with every error keyed like the input")
    func allFail() async {
        let o = await runFlow(script("""
            local ok, e = pcall(any, { x = function() error("one", 0) end, y = function() error({code = "TWO"}) end })
            return { code = e.code, x = e.errors.x, y = e.errors.y.code }
            """))
        #expect(o.value == ["code": "aggregate", "x": "one", "y": "TWO"])
    }

    @Test("with no tasks raises aggregate with no errors")
    func emptyRaisesAggregate() async {
        let o = await runFlow(script("local ok, e = pcall(any, {}) return { ok, e.code, next(e.errors) == nil }"))
        #expect(o.value == [false, "aggregate", true])
    }
}

@Suite("batch")
struct BatchContractTests {
    @Test("returns fn(item, i) results in input order")
    func inputOrder() async {
        let o = await runFlow(script("""
            return batch({ 3, 1, 2 }, function(x, i) sleep(x) return x * 10 + i end, { concurrency = 3 })
            """), virtualTime: true)
        #expect(o.value == [31, 12, 23])
    }

    @Test("with no items returns an empty table")
    func empty() async {
        let o = await runFlow(script("local r = batch({}, function() end) return next(r) == nil"))
        #expect(o.value == true)
    }

    @Test("fails fast: starts no new item, cancels running ones, raises the first error")
    func failFast() async {
        let o = await runFlow(script("""
            local started, closed = {}, 0
            local ok, e = pcall(batch, { 1, 2, 3, 4, 5, 6 }, function(x)
              started[#started + 1] = x
              local g <close> = setmetatable({}, {__close = function() closed = closed + 1 end})
              if x == 2 then sleep(1) error({code = "BAD", item = x}) end
              sleep(10)
            end, { concurrency = 3 })
            return { code = e.code, item = e.item, started = started, closed = closed }
            """), virtualTime: true)
        // items 1-3 start; 2 fails at t=1 before any other finishes: 4-6 never start, 1 and 3 are closed
        #expect(o.value?["code"] == "BAD")
        #expect(o.value?["item"] == 2)
        #expect(o.value?["started"] == [1, 2, 3])
        #expect(o.value?["closed"] == 3)
    }

    @Test("concurrency is a sliding window, not head-of-line chunks")
    func slidingWindow() async {
        let o = await runFlow(script("""
            local starts = {}
            local t0 = now()
            batch({ 5, 1, 1, 1 }, function(d, i) starts[i] = math.floor((now() - t0) * 1000 + 0.5) sleep(d) end, { concurrency = 2 })
            return starts
            """), virtualTime: true)
        // item 3 starts when item 2 ends (t=1), not when the first pair ends (t=5)
        #expect(o.value == [0, 0, 1000, 2000])
    }

    @Test("size = k passes chunks of up to k items; results are per chunk")
    func chunks() async {
        let o = await runFlow(script("""
            return batch({ 1, 2, 3, 4, 5 }, function(chunk, i) return #chunk * 100 + i end, { size = 2 })
            """))
        #expect(o.value == [201, 202, 103])
    }

    @Test("reports progress done/total to the run")
    func progress() async {
        let events = EventLog()
        _ = await runFlow(script("batch({ 1, 2, 3, 4 }, function(x) return x end, { name = 'items' })"), observer: events)
        let last = events.all.compactMap { event -> (Int, Int)? in
            if case .progress(_, let done, let total) = event { return (done, total) }
            return nil
        }.last
        #expect(last?.0 == 4 && last?.1 == 4)
    }

    @Test("settle and tolerate apply to batch too")
    func settleAndTolerate() async {
        let o = await runFlow(script("""
            local r = batch({ 1, 2 }, function(x) if x == 2 then error("no", 0) end return x end, { settle = true })
            local ok, e = pcall(batch, { 1, 2, 3 }, function(x) error("e" .. x, 0) end, { tolerate = 1 })
            return { r[1].value, r[2].error, e.code }
            """))
        #expect(o.value == [1, "no", "aggregate"])
    }
}
