// LineFrameDecoderTests.swift: lines out of a byte stream, split anywhere, with the 1 MiB limit.
import NIOCore
import NIOEmbedded
import Testing
@testable import TideDaemon

private func frames(_ chunks: [String], maxLength: Int = 16) throws -> [String] {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(LineFrameDecoder(maxLength: maxLength)))
    for chunk in chunks { try channel.writeInbound(ByteBuffer(string: chunk)) }
    _ = try? channel.finish()
    var out: [String] = []
    while let frame = try channel.readInbound(as: LineFrame.self) {
        switch frame {
        case .line(let buffer): out.append(String(buffer: buffer))
        case .tooLong: out.append("<too long>")
        }
    }
    return out
}

@Suite("LineFrameDecoder")
struct LineFrameDecoderTests {
    @Test("lines split across reads and several lines in one read")
    func splits() throws {
        #expect(try frames(["{\"a\"", ":1}\n{\"b\":2}\n{", "}\n"]) == [#"{"a":1}"#, #"{"b":2}"#, "{}"])
    }

    @Test("CRLF is accepted; a last line without its newline still counts at EOF")
    func endings() throws {
        #expect(try frames(["one\r\ntwo"]) == ["one", "two"])
    }

    @Test("a line over the limit is reported once and the rest is discarded")
    func tooLong() throws {
        #expect(try frames(["short\n", String(repeating: "x", count: 10), String(repeating: "y", count: 10), "\nafter\n"])
            == ["short", "<too long>"])
        // exactly the limit is fine
        #expect(try frames([String(repeating: "z", count: 16) + "\n"]) == [String(repeating: "z", count: 16)])
    }
}
