// LineFrameDecoder.swift: splits a connection's bytes into `\n`-terminated lines of at most 1 MiB.
import NIOCore
import TideProtocol

/// A line of the protocol, or the news that a line was too long.
public enum LineFrame: Sendable {
    case line(ByteBuffer)
    /// A line passed the limit: the connection gets an error and is closed.
    case tooLong
}

/// Frames newline-delimited JSON with ``RPCFraming``. A line longer than `maxLength` bytes
/// (without its `\n`) is reported once as ``LineFrame/tooLong`` and everything after it is
/// discarded. At the end of the input, the bytes left without a `\n` are the last line.
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
        try decode(context: context, buffer: &buffer, scan: RPCFraming.scan(buffer.readableBytesView, scanned: scanned, maxLength: maxLength))
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        _ = try decode(context: context, buffer: &buffer, scan: RPCFraming.scanLast(buffer.readableBytesView, maxLength: maxLength))
        return .needMoreData
    }

    private mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer, scan: RPCFraming.Scan) throws -> DecodingState {
        if overflowed {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        switch scan {
        case .line(let length, let consumed):
            scanned = 0
            let line = buffer.getSlice(at: buffer.readerIndex, length: length)!
            buffer.moveReaderIndex(forwardBy: consumed)
            context.fireChannelRead(wrapInboundOut(.line(line)))
            return .continue
        case .needMore(let count):
            scanned = count
            return .needMoreData
        case .tooLong:
            overflowed = true
            buffer.moveReaderIndex(to: buffer.writerIndex)
            context.fireChannelRead(wrapInboundOut(.tooLong))
            return .needMoreData
        }
    }
}
