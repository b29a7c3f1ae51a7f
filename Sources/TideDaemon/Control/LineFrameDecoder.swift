// LineFrameDecoder.swift: splits a connection's bytes into `\n`-terminated lines of at most 1 MiB.
import NIOCore
import TideProtocol

/// A line of the protocol, or the news that a line was too long.
public enum LineFrame: Sendable {
    case line(ByteBuffer)
    /// A line passed the limit: the connection gets an error and is closed.
    case tooLong
}

/// Frames newline-delimited JSON. A line longer than `maxLength` bytes (without its `\n`) is
/// reported once as ``LineFrame/tooLong`` and everything after it is discarded.
struct LineFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = LineFrame

    let maxLength: Int
    /// Bytes of the buffer already searched for `\n`, so a long line is scanned once.
    private var scanned = 0
    private var overflowed = false

    init(maxLength: Int = rpcMaxLineBytes) {
        self.maxLength = maxLength
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if overflowed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let view = buffer.readableBytesView
        if let newline = view.dropFirst(scanned).firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - view.startIndex
            scanned = 0
            if length > maxLength { return overflow(context, &buffer) }
            var line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)! }
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        }
        scanned = view.count
        if scanned > maxLength { return overflow(context, &buffer) }
        return .needMoreData
    }

    private mutating func overflow(_ context: ChannelHandlerContext, _ buffer: inout ByteBuffer) -> DecodingState {
        overflowed = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireChannelRead(wrapInboundOut(.tooLong))
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // a last line without its `\n` still counts
        while try decode(context: context, buffer: &buffer) == .continue {}
        if !overflowed, buffer.readableBytes > 0, let line = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(wrapInboundOut(.line(line)))
        }
        return .needMoreData
    }
}
