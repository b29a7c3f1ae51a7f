// FlowFileTests.swift: the reload lifecycle of one script, as a value (SPEC §4), without Lua or I/O.
import Testing
import TideDaemon
import TideEngine
import TideProtocol

private func definition(_ name: String, line: Int = 1) -> FlowDefinition {
    FlowDefinition(name: name, line: line)
}

private let v1 = FlowScript(path: "flows/a.lua", source: "-- v1")
private let v2 = FlowScript(path: "flows/a.lua", source: "-- v2")
private let sig1 = FileSignature(size: 5, modified: 1, inode: 7)
private let sig2 = FileSignature(size: 5, modified: 2, inode: 8)

@Suite("FlowFile")
struct FlowFileTests {
    @Test("a good version serves")
    func loads() {
        var file = FlowFile(path: "flows/a.lua")
        file.loaded(v1, flows: [definition("a")], signature: sig1)
        #expect(file.state == .serving)
        #expect(file.serving?.script == v1)
        #expect(file.flows.map(\.name) == ["a"])
        #expect(file.signature == sig1)
    }

    @Test("a failing version keeps the previous one serving and records its error")
    func failureKeepsPrevious() {
        var file = FlowFile(path: "flows/a.lua")
        file.loaded(v1, flows: [definition("a")], signature: sig1)
        let error = FileError(file: "flows/a.lua", error: "flows/a.lua:3: unexpected symbol", since: "t")
        file.failed(error, signature: sig2)
        #expect(file.error == error)
        #expect(file.serving?.script == v1)
        #expect(file.flows.map(\.name) == ["a"])
        #expect(file.signature == sig2)  // the failing version is not loaded again until it changes
    }

    @Test("a good version after a failure replaces the old one and clears the error")
    func recovery() {
        var file = FlowFile(path: "flows/a.lua")
        file.loaded(v1, flows: [definition("a")], signature: sig1)
        file.failed(FileError(file: "flows/a.lua", error: "boom", since: "t"), signature: sig2)
        file.loaded(v2, flows: [definition("a"), definition("b", line: 9)], signature: sig2)
        #expect(file.error == nil)
        #expect(file.serving?.script == v2)
        #expect(file.flows.map(\.name) == ["a", "b"])
    }

    @Test("a file whose first version fails serves nothing")
    func firstVersionFails() {
        var file = FlowFile(path: "flows/a.lua")
        file.failed(FileError(file: "flows/a.lua", error: "boom", since: "t"), signature: sig1)
        #expect(file.serving == nil)
        #expect(file.flows.isEmpty)
        #expect(file.error?.error == "boom")
    }
}
