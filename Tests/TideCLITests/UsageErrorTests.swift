// Usage errors exit with status 2 and say what is wrong on standard error (SPEC §6).
import Foundation
import Testing

@Suite("Usage errors")
struct UsageErrorTests {
    /// One command line that must be rejected before anything runs.
    struct Case: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var testDescription: String { "tide " + arguments.joined(separator: " ") }
    }

    static let cases: [Case] = [
        Case(arguments: ["exec", "FILE", "--no-such-flag"]),
        Case(arguments: ["check", "FILE", "--no-such-flag"]),
        Case(arguments: ["exec"]),
        Case(arguments: ["exec", "--json"]),
        Case(arguments: ["check"]),
        Case(arguments: ["check", "--json"]),
        Case(arguments: ["exec", "FILE", "--flow"]),
        Case(arguments: ["exec", "FILE", "--payload"]),
        Case(arguments: ["no-such-command"]),
    ]

    @Test(arguments: cases)
    func exitsWithStatus2(_ usage: Case) async throws {
        try await withScratchDirectory { dir in
            let file = try dir.write("flow.lua", """
                flow { name = "p", run = function(ctx) sh("touch '\(dir.path)/ran'") end }
                """)
            let arguments = usage.arguments.map { $0 == "FILE" ? file : $0 }
            let output = try await TideProcess.run(arguments, in: dir.url)
            #expect(output.status == 2, "output: \(output.combined)")
            #expect(!output.signaled)
            #expect(!output.stderr.isEmpty, "a usage error should explain itself on stderr")
            #expect(!dir.exists("ran"), "the flow ran despite the usage error")
        }
    }

    @Test func missingScriptFileFailsAndNamesIt() async throws {
        try await withScratchDirectory { dir in
            let output = try await TideProcess.run(["exec", "does-not-exist-5c1.lua"], in: dir.url)
            #expect(output.status != 0)
            #expect(!output.signaled)
            #expect(output.stderr.contains("does-not-exist-5c1.lua"), "stderr: \(output.stderr)")
        }
    }
}
