// RPCInputTests.swift: request lines parsed without I/O: ids kept as sent, batches, errors; and framing.
import Testing
import TideProtocol

private func input(_ text: String) -> RPCInput {
    RPCInput(line: Array(text.utf8))
}

/// The id of a single request or of the error answering it.
private func id(of input: RPCInput) -> String? {
    switch input {
    case .single(.success(let request)): request.id?.json
    case .single(.failure(let error)): error.id?.json
    default: nil
    }
}

@Suite("RPCInput")
struct RPCInputTests {
    @Test("an id is kept as the bytes it was sent as", arguments: [
        "123456789012345678901234567890", "9007199254740993", "1e400", "-1e400", "1e-400", "-0", "1.50", "-1.0E+2",
        #""a\u00e9\/b\"c""#, #""\ud83d\ude00""#, #""""#, "null", "7",
    ])
    func idVerbatim(id raw: String) {
        let parsed = input(#"{"jsonrpc":"2.0","id":\#(raw),"method":"daemon.status"}"#)
        #expect(id(of: parsed) == raw)
        guard case .single(.success(let request)) = parsed else {
            Issue.record("not a request: \(parsed)")
            return
        }
        #expect(RPCResponse.result(.null, id: request.id!).jsonText == #"{"jsonrpc":"2.0","id":\#(raw),"result":null}"#)
        // and an invalid request with that id answers it too
        #expect(id(of: input(#"{"jsonrpc":"1.0","id":\#(raw),"method":"x"}"#)) == raw)
    }

    @Test("spaces around the id are not part of it; the last of repeated ids counts, as for any member")
    func idSpacing() {
        #expect(id(of: input(#"{ "id" :  12.0 , "jsonrpc":"2.0","method":"m"}"#)) == "12.0")
        #expect(id(of: input(#"{"id":1,"jsonrpc":"2.0","method":"m","id":"two"}"#)) == #""two""#)
    }

    @Test("a notification has no id; an id that is not a string, number or null is refused with id null")
    func notificationsAndBadIDs() {
        guard case .single(.success(let note)) = input(#"{"jsonrpc":"2.0","method":"m"}"#) else {
            Issue.record("a notification is a request")
            return
        }
        #expect(note.id == nil)
        guard case .single(.failure(let error)) = input(#"{"jsonrpc":"2.0","id":[1],"method":"m"}"#) else {
            Issue.record("an array id is not a request")
            return
        }
        #expect(error.code == -32600 && error.id == nil)
    }

    @Test("a number out of range elsewhere is still a parse error; only an id is taken as text")
    func outOfRangeElsewhere() {
        guard case .invalid(let error) = input(#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"n":1e400}}"#) else {
            Issue.record("1e400 in params should not parse")
            return
        }
        #expect(error.code == -32700)
    }

    @Test("batches: each item in order with its own id; an empty batch and bad JSON are errors")
    func batches() {
        guard case .batch(let items) = input(#" [{"jsonrpc":"2.0","id":1.50,"method":"a"}, 5, {"jsonrpc":"2.0","method":"n"}]"#) else {
            Issue.record("not a batch")
            return
        }
        #expect(items.count == 3)
        if case .success(let first) = items[0] { #expect(first.id?.json == "1.50" && first.method == "a") } else { Issue.record("\(items[0])") }
        if case .failure(let second) = items[1] { #expect(second.code == -32600) } else { Issue.record("\(items[1])") }
        if case .success(let third) = items[2] { #expect(third.id == nil) } else { Issue.record("\(items[2])") }
        guard case .invalid(let empty) = input("[]"), case .invalid(let broken) = input("{\"id\":1,") else {
            Issue.record("[] and a truncated object are errors")
            return
        }
        #expect(empty.code == -32600 && broken.code == -32700)
    }

    @Test("a request writes back as it was built, its id as given")
    func requestLine() {
        let request = RPCRequest(id: RPCID(.int(3)), method: "run.get", params: .object(["run_id": .string("r")]))
        #expect(request.line() == #"{"jsonrpc":"2.0","id":3,"method":"run.get","params":{"run_id":"r"}}"# + "\n")
    }
}

@Suite("RPCFraming")
struct RPCFramingTests {
    @Test("a line ends at \\n (a \\r before it is not part of it); without one, more is needed")
    func lines() {
        #expect(RPCFraming.scan(Array("ab\ncd".utf8)) == .line(length: 2, consumed: 3))
        #expect(RPCFraming.scan(Array("ab\r\n".utf8)) == .line(length: 2, consumed: 4))
        #expect(RPCFraming.scan(Array("abc".utf8)) == .needMore(scanned: 3))
        #expect(RPCFraming.scan(Array("abc\n".utf8), scanned: 3) == .line(length: 3, consumed: 4))
        #expect(RPCFraming.scan([UInt8]()) == .needMore(scanned: 0))
    }

    @Test("the limit: a line of exactly maxLength is fine, one byte more is too long, found or not")
    func limit() {
        #expect(RPCFraming.scan(Array("abcd\n".utf8), maxLength: 4) == .line(length: 4, consumed: 5))
        #expect(RPCFraming.scan(Array("abcde\n".utf8), maxLength: 4) == .tooLong)
        #expect(RPCFraming.scan(Array("abcde".utf8), maxLength: 4) == .tooLong)
    }

    @Test("at the end of the input, what is left is the last line")
    func last() {
        #expect(RPCFraming.scanLast(Array("abc".utf8)) == .line(length: 3, consumed: 3))
        #expect(RPCFraming.scanLast(Array("abc\r".utf8)) == .line(length: 3, consumed: 4))
        #expect(RPCFraming.scanLast([UInt8]()) == .needMore(scanned: 0))
        #expect(RPCFraming.scanLast(Array("a\nb".utf8)) == .line(length: 1, consumed: 2))
    }
}
