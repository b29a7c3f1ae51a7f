// FlowTableTests.swift: a reload batch applied to the table as one transaction (SPEC §4), without Lua or I/O.
import Testing
import TideDaemon
import TideEngine
import TideProtocol

/// A version of `path` defining `names` (line 1, 2, ...).
private func version(_ path: String, _ names: [String], tag: String = "") -> FlowVersion {
    FlowVersion(
        script: FlowScript(path: path, source: "-- \(path) \(names) \(tag)"),
        flows: names.enumerated().map { FlowDefinition(name: $0.element, line: $0.offset + 1) })
}

private func loaded(_ path: String, _ names: [String], tag: String = "") -> ReloadBatch.Change {
    .loaded(version(path, names, tag: tag), nil, digest: nil)
}

private func batch(_ changes: [String: ReloadBatch.Change], at time: String = "t1") -> ReloadBatch {
    ReloadBatch(changes: changes, time: time)
}

/// The table after applying `batches` in turn to an empty one.
private func table(_ batches: ReloadBatch...) -> FlowTable {
    batches.reduce(FlowTable()) { $0.applying($1).table }
}

@Suite("FlowTable")
struct FlowTableTests {
    @Test("a rename in one batch is a rename, whichever of the two names sorts first",
          arguments: [("flows/zeta.lua", "flows/alpha.lua"), ("flows/alpha.lua", "flows/zeta.lua")])
    func rename(from: String, to: String) {
        let before = table(batch([from: loaded(from, ["shared", "other"])]))
        let (after, changed) = before.applying(batch([from: .removed, to: loaded(to, ["shared", "other"])]))
        #expect(after.owners == ["shared": to, "other": to])
        #expect(after.files[to]?.error == nil)
        #expect(after.files[from] == nil)
        #expect(changed == [from, to].sorted())
    }

    @Test("a name another file serves is an error of the newer file, which serves once the name is free, without a new load")
    func waitsForTheName() throws {
        let a = "flows/a.lua", b = "flows/b.lua"
        let first = table(batch([a: loaded(a, ["x"])]), batch([b: loaded(b, ["y", "x"])], at: "t2"))
        #expect(first.owners == ["x": a])
        let error = try #require(first.files[b]?.error)
        #expect(error.error == "flows/b.lua:2: flow 'x' is already defined in flows/a.lua (flow names are unique in a home: rename one of them)")
        #expect(error.since == "t2")
        #expect(first.files[b]?.serving == nil)

        // another file changes: b still waits, its error (and since) unchanged
        let second = first.applying(batch(["flows/c.lua": loaded("flows/c.lua", ["z"])], at: "t3")).table
        #expect(second.files[b] == first.files[b])

        // a goes: b serves in the same batch, though b itself did not change
        let (third, changed) = second.applying(batch([a: .removed], at: "t4"))
        #expect(third.owners == ["x": b, "y": b, "z": "flows/c.lua"])
        #expect(third.files[b]?.error == nil)
        #expect(changed == [a, b])
    }

    @Test("two files that swap names in one batch both serve")
    func swap() {
        let a = "flows/a.lua", b = "flows/b.lua"
        let before = table(batch([a: loaded(a, ["x"]), b: loaded(b, ["y"])]))
        let after = before.applying(batch([a: loaded(a, ["y"]), b: loaded(b, ["x"])])).table
        #expect(after.owners == ["x": b, "y": a])
        #expect(after.files.values.allSatisfy { $0.error == nil })
    }

    @Test("the file serving a name keeps it against newcomers; among newcomers the batch's files and then the path decide")
    func ranks() {
        let a = "flows/a.lua", b = "flows/b.lua", c = "flows/c.lua"
        // a serves x; a is edited and b appears with x in the same batch: a keeps it
        let kept = table(batch([a: loaded(a, ["x"])])).applying(batch([a: loaded(a, ["x"], tag: "v2"), b: loaded(b, ["x"])])).table
        #expect(kept.owners == ["x": a])
        #expect(kept.files[b]?.error?.error.contains("already defined in flows/a.lua") == true)
        // nobody served x: of two newcomers the first path wins
        let fresh = table(batch([c: loaded(c, ["x"]), b: loaded(b, ["x"])]))
        #expect(fresh.owners == ["x": b])
        // a waiting file does not take a name from a file renamed in this batch
        let waiting = table(batch([a: loaded(a, ["x"])]), batch([b: loaded(b, ["x"])]))
        let renamed = waiting.applying(batch([a: .removed, c: loaded(c, ["x"])])).table
        #expect(renamed.owners == ["x": c])
        #expect(renamed.files[b]?.error?.error.contains("already defined in flows/c.lua") == true)
    }

    @Test("a version that failed to load keeps the old one serving, and its names")
    func failedKeepsNames() {
        let a = "flows/a.lua", b = "flows/b.lua"
        let before = table(batch([a: loaded(a, ["x"])]))
        let after = before.applying(batch([a: .failed("flows/a.lua:1: syntax error", nil, digest: 1), b: loaded(b, ["x"])])).table
        #expect(after.owners == ["x": a])
        #expect(after.files[a]?.serving?.flows.map(\.name) == ["x"])
        #expect(after.files[a]?.error?.error == "flows/a.lua:1: syntax error")
        #expect(after.files[b]?.candidate != nil)
    }

    @Test("a file seen again with the same bytes changes nothing")
    func same() {
        let a = "flows/a.lua"
        let before = table(batch([a: .failed("flows/a.lua: took longer than 2 s", nil, digest: 7)]))
        let signature = FileSignature(size: 1, modified: 2, inode: 3)
        let (after, changed) = before.applying(batch([a: .same(signature, digest: 7)], at: "t9"))
        #expect(changed.isEmpty)
        #expect(after.files[a]?.error?.since == "t1")
        #expect(after.files[a]?.signature == signature)
    }

    @Test("a thousand files with one name: one serves, the others wait, each with its error")
    func manyClaimants() {
        var changes: [String: ReloadBatch.Change] = [:]
        for i in 0..<1000 {
            let path = "flows/f\(1000 + i).lua"
            changes[path] = loaded(path, ["x", "own\(i)"])
        }
        let t = table(batch(changes))
        #expect(t.owners["x"] == "flows/f1000.lua")
        #expect(t.files.values.filter { $0.error == nil }.count == 1)
        #expect(t.files.values.filter { $0.candidate != nil }.count == 999)
    }
}
