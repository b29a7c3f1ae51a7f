// LuaCompatibilityTests.swift: the functions tide replaces raise what Lua's own raise, where
// Lua's would: the same snippets run through lua5.4 and tide exec give the same messages.
import Foundation
import Testing

@Suite("errors of replaced functions match lua5.4")
struct LuaCompatibilityTests {
    /// Each case runs under pcall; what it returns or raises is compared. Line numbers are the
    /// same in both files: the flow's wrapper shares the first line with the cases.
    static let cases = """
        local cases = {
          function() setmetatable(1) end,
          function() setmetatable({}, 1) end,
          function() setmetatable() end,
          function() setmetatable(setmetatable({}, { __metatable = 1 }), {}) end,
          function() return getmetatable(setmetatable({}, { __index = {} })) ~= nil end,
          function() load() end,
          function() load({}) end,
          function() load("return 1", 2) end,
          function() load("return 1", "n", {}) end,
          function() return load("x =") end,
          function() return load("x =", "=chunk") end,
          function() return load(function() return {} end) end,
          function() return load("return ...")(7) end,
          function() return load("return x", "n", "t", { x = 5 })() end,
          function() io.write({}) end,
          function() io.write("", true) end,
          function() io.write("", 1, nil) end,
          function() io.lines("/nonexistent/tide-x") end,
          function() io.lines({}) end,
          function() loadfile({}) end,
          function() return loadfile("/nonexistent/tide-y") end,
          function() dofile("/nonexistent/tide-z") end,
          function() dofile({}) end,
          function() return select("#", pcall(error)) end,
          function() string.rep() end,
          function() ("x"):bad() end,
        }
        local function report()
          local out = {}
          for i, f in ipairs(cases) do
            local r = table.pack(pcall(f))
            local parts = {}
            for j = 1, r.n do parts[#parts + 1] = tostring(r[j]) end
            out[i] = table.concat(parts, " | ")
          end
          return out
        end
        """

    @Test("the same messages at the same file:line as lua5.4")
    func sameMessages() async throws {
        try await withScratchDirectory { dir in
            let lines = Self.cases.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let plain = try dir.write("case.lua", Self.cases + "\nio.output(\"/dev/null\")  -- io.write here goes to the run's log\nprint(table.concat(report(), \"\\n\"))\n")
            let flow = try dir.write("case.lua.flow",
                "flow { name = \"c\", run = function() " + lines[0] + "\n" + lines.dropFirst().joined(separator: "\n")
                + "\nreturn report() end }\n")
            let lua = try await Lifecycle.runProgram("/usr/bin/lua5.4", [plain])
            #expect(lua.status == 0, "\(lua.stderr)")
            // the two files have other paths: both become FILE
            func normalize(_ text: some StringProtocol) -> String { String(text).replacing(#/[^ |]*case\.lua/#, with: "FILE") }
            let reference = lua.stdout.split(separator: "\n").map(normalize)
            let run = try await ExecRun.run(try String(contentsOfFile: flow, encoding: .utf8), fileName: "case.lua")
            #expect(run.report.status == "succeeded", "\(run.output.combined)")
            let normalized = (run.report.result?.array ?? []).compactMap(\.string).map(normalize)
            #expect(normalized.count == reference.count, "\(normalized)")
            for (index, (mine, theirs)) in zip(normalized, reference).enumerated() {
                #expect(mine == theirs, "case \(index + 1): tide says\n  \(mine)\nlua5.4 says\n  \(theirs)")
            }
        }
    }
}
