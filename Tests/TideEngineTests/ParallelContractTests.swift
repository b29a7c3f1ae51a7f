// ParallelContractTests.swift: SPEC §3.3, the rows of parallel and settle/partition.
import Testing
import TideEngine

@Suite("parallel")
struct ParallelContractTests {
    @Test("variadic form returns the results as multiple values, in order")
    func variadicReturnsInOrder() async {
        let o = await runFlow(script("""
            local a, b, c = parallel(
              function() sleep("30ms") return "a" end,
              function() sleep("10ms") return "b" end,
              function() return "c" end)
            return {a, b, c}
            """), virtualTime: true)
        #expect(o.value == ["a", "b", "c"])
    }

    @Test("variadic form with no tasks returns nothing")
    func variadicEmptyReturnsNothing() async {
        let o = await runFlow(script("return select('#', parallel())"))
        #expect(o.value == 0)
    }

    @Test("variadic form fails fast: the first error is raised and the others are cancelled")
    func variadicFailFast() async {
        let o = await runFlow(script("""
            local closed = false
            local ok, err = pcall(parallel,
              function() sleep("10ms") error({code = "NOT_FOUND"}) end,
              function() local g <close> = setmetatable({}, {__close = function() closed = true end}) sleep("1h") end)
            return {ok = ok, code = err.code, closed = closed}
            """), virtualTime: true)
        #expect(o.value == ["ok": false, "code": "NOT_FOUND", "closed": true])
    }

    @Test("variadic form rejects a non-function argument")
    func variadicRejectsNonFunction() async {
        let o = await runFlow(script("parallel(function() end, 5)"))
        #expect(o.errorMessage.contains("bad argument #2 to 'parallel' (function expected, got number)"))
    }

    @Test("table form returns a table with the same keys (array)")
    func tableFormArray() async {
        let o = await runFlow(script("""
            return parallel({ function() sleep(0.02) return 1 end, function() return 2 end, function() sleep(0.01) return 3 end })
            """), virtualTime: true)
        #expect(o.value == [1, 2, 3])
    }

    @Test("table form returns a table with the same keys (map)")
    func tableFormMap() async {
        let o = await runFlow(script("""
            return parallel({ user = function() sleep(0.02) return "ada" end, posts = function() return 3 end })
            """), virtualTime: true)
        #expect(o.value == ["user": "ada", "posts": 3])
    }

    @Test("table form fails fast with the first error, unchanged")
    func tableFormFailFast() async {
        let o = await runFlow(script("""
            local e = {code = "NOT_FOUND", id = 7}
            local finished = false
            local ok, got = pcall(parallel, {
              a = function() sleep(0.01) error(e) end,
              b = function() sleep(10) finished = true end })
            return {same = got == e, finished = finished}
            """), virtualTime: true)
        #expect(o.value == ["same": true, "finished": false])
    }

    @Test("table form with no tasks returns an empty table")
    func tableFormEmpty() async {
        let o = await runFlow(script("local r = parallel({}) return next(r) == nil and type(r) == 'table'"))
        #expect(o.value == true)
    }

    @Test("runs tasks concurrently: three 100 ms sleeps take 100 ms")
    func concurrency() async {
        let o = await runFlow(script("""
            local t = now()
            parallel(function() sleep(0.1) end, function() sleep(0.1) end, function() sleep(0.1) end)
            return now() - t
            """), virtualTime: true)
        let elapsed = number(o.value)
        #expect(elapsed.map { abs($0 - 0.1) < 0.001 } == true, "elapsed \(String(describing: elapsed)), error \(o.error ?? "")")
    }

    @Test("nil argument: bad argument #1 to 'parallel' (table expected, got nil)")
    func nilArgument() async {
        let o = await runFlow(script("parallel(nil)"))
        #expect(o.status == .failed)
        #expect(o.errorMessage.contains("bad argument #1 to 'parallel' (table expected, got nil)"))
        #expect(o.errorMessage.hasPrefix("test.lua:2:"))
    }

    @Test("a task that is not a function is an argument error naming the key")
    func taskNotAFunction() async {
        let o = await runFlow(script("parallel({ ok = function() end, bad = 42 })"))
        #expect(o.errorMessage.contains("bad argument #1 to 'parallel' (task \"bad\" is not a function (got number))"))
    }

    @Test("unknown options are rejected")
    func unknownOption() async {
        let o = await runFlow(script("parallel({}, { concurency = 2 })"))
        #expect(o.errorMessage.contains("unknown option 'concurency'"))
    }
}

@Suite("parallel options")
struct ParallelOptionTests {
    @Test("settle = true waits for every task and returns outcomes per key")
    func settleOption() async {
        let o = await runFlow(script("""
            local r = parallel({ a = function() return 1 end, b = function() sleep(1) error("boom", 0) end }, { settle = true })
            return r
            """), virtualTime: true)
        #expect(o.value == ["a": ["ok": true, "value": 1], "b": ["ok": false, "error": "boom"]])
    }

    @Test("tolerate = n accepts n failures and returns results, errors")
    func tolerateAccepts() async {
        let o = await runFlow(script("""
            local results, errors = parallel({ function() return 1 end, function() error("x", 0) end, function() return 3 end }, { tolerate = 1 })
            return { r1 = results[1], r2 = results[2] == nil, r3 = results[3], e2 = errors[2] }
            """))
        #expect(o.value == ["r1": 1, "r2": true, "r3": 3, "e2": "x"])
    }

    @Test("tolerate = n: one more failure cancels the rest and raises aggregate")
    func tolerateExceeded() async {
        let o = await runFlow(script("""
            local cancelled = true
            local ok, e = pcall(parallel, {
              function() error("one", 0) end,
              function() sleep(0.01) error("two", 0) end,
              function() sleep(5) cancelled = false end }, { tolerate = 1 })
            return { code = e.code, one = e.errors[1], two = e.errors[2], cancelled = cancelled }
            """), virtualTime: true)
        #expect(o.value == ["code": "aggregate", "one": "one", "two": "two", "cancelled": true])
    }

    @Test("limit = n runs at most n at once, starting in input order")
    func limitOption() async {
        let o = await runFlow(script("""
            local running, peak, order = 0, 0, {}
            local tasks = {}
            for i = 1, 6 do
              tasks[i] = function()
                order[#order + 1] = i
                running = running + 1
                if running > peak then peak = running end
                sleep(0.1 * (7 - i))
                running = running - 1
              end
            end
            parallel(tasks, { limit = 2 })
            return { peak = peak, order = order }
            """), virtualTime: true)
        #expect(o.value == ["peak": 2, "order": [1, 2, 3, 4, 5, 6]])
    }

    @Test("timeout = d cancels running tasks and raises a timeout error")
    func timeoutOption() async {
        let o = await runFlow(script("""
            local closed = false
            local t = now()
            local ok, e = pcall(parallel, {
              function() local g <close> = setmetatable({}, {__close = function() closed = true end}) sleep(10) end }, { timeout = "2s", name = "slow" })
            return { code = e.code, closed = closed, elapsed = now() - t, message = tostring(e) }
            """), virtualTime: true)
        #expect(o.value?["code"] == "timeout")
        #expect(o.value?["closed"] == true)
        #expect(number(o.value?["elapsed"]).map { abs($0 - 2) < 0.001 } == true)
        #expect(o.value?["message"]?.string?.contains("timed out after 2s") == true)
    }

    @Test("timeout with settle gives unfinished tasks a timeout outcome")
    func timeoutWithSettle() async {
        let o = await runFlow(script("""
            local r = parallel({ fast = function() return "ok" end, slow = function() sleep(60) end }, { settle = true, timeout = "1s" })
            return { fast = r.fast.value, slow_ok = r.slow.ok, slow_code = r.slow.error.code }
            """), virtualTime: true)
        #expect(o.value == ["fast": "ok", "slow_ok": false, "slow_code": "timeout"])
    }

    @Test("name = ... names the group in the history; branches are named by key")
    func nameOption() async {
        let o = await runFlow(script("""
            parallel({ user = function() step("load", function() end) end, posts = function() end }, { name = "fetch-data" })
            """))
        let group = o.steps.first { $0.kind == .group }
        #expect(group?.name == "fetch-data")
        #expect(group?.primitive == "parallel")
        let branch = o.steps.first { $0.kind == .branch && $0.name == "user" }
        #expect(branch?.parent == group?.id)
        let load = o.steps.first { $0.name == "load" }
        #expect(load?.parent == branch?.id)
    }
}

@Suite("settle and partition")
struct SettleContractTests {
    @Test("settle returns outcomes and never raises for task failures")
    func settleNeverRaises() async {
        let o = await runFlow(script("""
            local r = settle({ function() return 1 end, function() error({code = "E"}) end })
            return { r[1].ok, r[1].value, r[2].ok, r[2].error.code }
            """))
        #expect(o.value == [true, 1, false, "E"])
    }

    @Test("settle with no tasks returns an empty table")
    func settleEmpty() async {
        let o = await runFlow(script("return next(settle({})) == nil"))
        #expect(o.value == true)
    }

    @Test("partition splits outcomes into values and errors in input order")
    func partitionSplits() async {
        let o = await runFlow(script("""
            local values, errors = partition(settle({ function() return "a" end, function() error("x", 0) end, function() return "c" end }))
            return { values = values, errors = errors }
            """))
        #expect(o.value == ["values": ["a", "c"], "errors": ["x"]])
    }

    @Test("partition of nothing returns two empty tables")
    func partitionEmpty() async {
        let o = await runFlow(script("local v, e = partition({}) return { #v, #e, type(v), type(e) }"))
        #expect(o.value == [0, 0, "table", "table"])
    }
}
