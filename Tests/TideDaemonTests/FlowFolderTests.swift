// FlowFolderTests.swift: listing flows/ by bytes: names that are not UTF-8, links, hidden files.
import Foundation
import Testing
@testable import TideDaemon

@Suite("FlowFolder")
struct FlowFolderTests {
    static let names: [([UInt8], String)] = [
        (Array("plain.lua".utf8), "plain.lua"),
        (Array("caf".utf8) + [0xff] + Array(".lua".utf8), "caf\\xff.lua"),
        (Array("é".utf8) + [0xc3] + Array("x".utf8), "é\\xc3x"),
        ([0xfe, 0x0a], "\\xfe\n"),
    ]

    @Test("bytes that are not UTF-8 are shown as \\xNN, the rest as it is", arguments: names)
    func display(bytes: [UInt8], shown: String) {
        #expect(FlowFolder.display(bytes) == shown)
    }

    @Test("scripts are listed recursively in path order, names that are not UTF-8 too, hidden ones not, links followed once")
    func listing() throws {
        let root = NSTemporaryDirectory() + "tide-folder-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let flows = root + "/real"
        try FileManager.default.createDirectory(atPath: flows + "/sub", withIntermediateDirectories: true)
        for name in ["b.lua", "sub/a.lua", ".hidden.lua", "notes.txt"] {
            _ = FileManager.default.createFile(atPath: flows + "/" + name, contents: Data("-- x".utf8))
        }
        let bad = Array((flows + "/caf").utf8) + [0xff] + Array(".lua".utf8) + [0]
        let fd = bad.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) } }
        #expect(fd >= 0)
        close(fd)
        try FileManager.default.createSymbolicLink(atPath: flows + "/sub/loop", withDestinationPath: flows)  // a link back up
        try FileManager.default.createSymbolicLink(atPath: root + "/flows", withDestinationPath: flows)  // the folder itself a link

        let entries = FlowFolder.scripts(in: root + "/flows", shownAs: "flows")
        #expect(entries.map(\.path) == ["flows/b.lua", "flows/caf\\xff.lua", "flows/sub/a.lua"])
        #expect(entries.map { $0.absolute != nil } == [true, false, true])
        #expect(entries.first?.absolute == root + "/flows/b.lua")
    }
}
