// `tide check`: loads scripts without running them and reports load errors with file:line (SPEC §4, §6).
import Foundation
import Testing

@Suite("tide check")
struct CheckCommandTests {
    static let good = """
        flow { name = "tidy-up", run = function(ctx) return 1 end }
        """
    static let syntaxError = """
        flow {
          name = "oops",
          run = function(ctx) return ) end,
        }
        """

    @Test func goodFilePassesAndNamesItsFlow() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("good.lua", Self.good)
            let output = try await TideProcess.run(["check", file], in: dir.url)
            #expect(output.status == 0, "output: \(output.combined)")
            #expect(output.stdout.contains("tidy-up"), "stdout: \(output.stdout)")
        }
    }

    @Test func syntaxErrorFailsWithFileAndLine() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("bad.lua", Self.syntaxError)
            let output = try await TideProcess.run(["check", file], in: dir.url)
            #expect(output.status == 1, "output: \(output.combined)")
            #expect(output.combined.contains("bad.lua:3"), "output: \(output.combined)")
        }
    }

    @Test func runtimeErrorAtTopLevelFailsWithFileAndLine() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("boom.lua", """
                local x = 1
                error("top-level boom")
                flow { name = "never", run = function(ctx) end }
                """)
            let output = try await TideProcess.run(["check", file], in: dir.url)
            #expect(output.status == 1, "output: \(output.combined)")
            #expect(output.combined.contains("boom.lua:2"), "output: \(output.combined)")
            #expect(output.combined.contains("top-level boom"), "output: \(output.combined)")
        }
    }

    @Test func oneBadFileAmongSeveralFailsTheCheck() async throws {
        try await withScratchDirectory { dir in
            let first = try dir.write("first.lua", Self.good)
            let bad = try dir.write("bad.lua", Self.syntaxError)
            let last = try dir.write("last.lua", #"flow { name = "last-one", run = function(ctx) end }"#)
            let output = try await TideProcess.run(["check", first, bad, last], in: dir.url)
            #expect(output.status == 1, "output: \(output.combined)")
            #expect(output.combined.contains("bad.lua:3"), "output: \(output.combined)")
            // The good files are still checked and reported.
            #expect(output.stdout.contains("tidy-up"), "stdout: \(output.stdout)")
            #expect(output.stdout.contains("last-one"), "stdout: \(output.stdout)")
        }
    }

    @Test func severalGoodFilesPass() async throws {
        try await withScratchDirectory { dir in
            let first = try dir.write("first.lua", Self.good)
            let second = try dir.write("second.lua", """
                flow { name = "two-a", run = function(ctx) end }
                flow { name = "two-b", run = function(ctx) end }
                """)
            let output = try await TideProcess.run(["check", first, second], in: dir.url)
            #expect(output.status == 0, "output: \(output.combined)")
            for name in ["tidy-up", "two-a", "two-b"] {
                #expect(output.stdout.contains(name), "stdout: \(output.stdout)")
            }
        }
    }

    @Test func jsonOutputIsOneObjectForGoodFiles() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("good.lua", Self.good)
            let output = try await TideProcess.run(["check", "--json", file], in: dir.url)
            #expect(output.status == 0, "output: \(output.combined)")
            let json = try output.json()
            #expect(json.object != nil, "stdout: \(output.stdout)")
            #expect(output.stdout.contains("tidy-up"), "stdout: \(output.stdout)")
        }
    }

    @Test func jsonOutputIsOneObjectWhenAFileFails() async throws {
        try await withScratchDirectory { dir in
            let good = try dir.write("good.lua", Self.good)
            let bad = try dir.write("bad.lua", Self.syntaxError)
            let output = try await TideProcess.run(["check", "--json", good, bad], in: dir.url)
            #expect(output.status == 1, "output: \(output.combined)")
            let json = try output.json()
            #expect(json.object != nil, "stdout: \(output.stdout)")
            #expect(output.stdout.contains("bad.lua:3"), "stdout: \(output.stdout)")
            #expect(output.stdout.contains("tidy-up"), "stdout: \(output.stdout)")
        }
    }

    @Test func checkDoesNotRunTheFlow() async throws {
        try await withScratchDirectory { dir in
            let marker = dir.url.appending(path: "ran").path
            let file = try dir.write("sideeffect.lua", """
                flow { name = "side-effect", run = function(ctx) sh("touch '\(marker)'") end }
                """)
            let output = try await TideProcess.run(["check", file], in: dir.url)
            #expect(output.status == 0, "output: \(output.combined)")
            #expect(!dir.exists("ran"), "tide check ran the flow's run function")
        }
    }

    @Test func topLevelInfiniteLoopIsStopped() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("spin.lua", """
                flow { name = "spin", run = function(ctx) end }
                while true do end
                """)
            let output = try await TideProcess.run(["check", file], in: dir.url)
            #expect(output.status == 1, "output: \(output.combined)")
            #expect(output.duration < .seconds(15), "took \(output.duration)")
            let text = output.combined.lowercased()
            #expect(text.contains("spin.lua"), "output: \(output.combined)")
            #expect(text.contains("long") || text.contains("time"), "no word about loading taking too long: \(output.combined)")
        }
    }

    @Test func duplicateFlowNameInOneFileIsALoadError() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("dup.lua", """
                flow { name = "same", run = function(ctx) end }
                flow { name = "same", run = function(ctx) end }
                """)
            let output = try await TideProcess.run(["check", file], in: dir.url)
            #expect(output.status == 1, "output: \(output.combined)")
            #expect(output.combined.contains("same"), "output: \(output.combined)")
        }
    }

    @Test func flowWithoutRunFunctionIsALoadError() async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("norun.lua", #"flow { name = "lazy" }"#)
            let output = try await TideProcess.run(["check", file], in: dir.url)
            #expect(output.status == 1, "output: \(output.combined)")
            #expect(output.combined.contains("norun.lua"), "output: \(output.combined)")
            #expect(output.combined.contains("run"), "output: \(output.combined)")
        }
    }
}
