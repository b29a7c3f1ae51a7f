// main.swift (RPCFuzz): the control protocol's reading of request lines, under libFuzzer.
//
// The input is a connection's bytes. They are split into lines as LineFrameDecoder does (`\n`,
// a trailing `\r` dropped, empty lines skipped), and each line goes where ControlServer.answer
// sends it: JSONValue(parsing:), then a batch's items or the value through
// RPCRequest(validating:) and the parameter readers the methods use. Nothing may trap, and what
// was parsed must survive being written and read again.
import CFuzzDriver
import Glibc
import TideProtocol

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    for var line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        guard !line.isEmpty, line.count <= rpcMaxLineBytes else { continue }
        answer(line)
    }
    return 0
}

func answer(_ line: Slice<UnsafeBufferPointer<UInt8>>) {
    let value: JSONValue
    do {
        value = try JSONValue(parsing: line)
    } catch {
        check(error.offset >= 0 && error.offset <= line.count, "error offset \(error.offset) outside the line of \(line.count) bytes")
        _ = RPCError(.parseError, "not valid JSON: \(error)").response.jsonText
        return
    }
    checkRoundTrip(value)
    if case .array(let items) = value {
        for item in items { respond(to: item) }
    } else {
        respond(to: value)
    }
}

func respond(to value: JSONValue) {
    let request: RPCRequest
    do {
        request = try RPCRequest(validating: value)
    } catch {
        checkRoundTrip(error.response)
        return
    }
    // what the methods read (ControlAPI): each either answers or throws RPCError
    for name in ["flow", "run", "follow", "limit", "payload", "since"] {
        _ = try? request.string(name)
        _ = try? request.optionalString(name)
        _ = try? request.bool(name)
        if let n = try? request.positiveInt(name) { check(n > 0, "positiveInt gave \(n)") }
    }
    _ = try? request.expectParams(["flow", "run"])
    // a valid request written as a line reads back as the same request
    let line = request.line()
    check(line.last == "\n" && line.dropLast().firstIndex(of: "\n") == nil, "request line with an inner newline: \(line)")
    guard let again = try? RPCRequest(validating: JSONValue(parsing: Array(line.utf8.dropLast()))) else {
        fatalError("request line does not read back: \(line)")
    }
    check(again.method == request.method, "method changed: \(request.method) -> \(again.method)")
    check(same(again.id, request.id) && same(again.params, request.params), "request changed through its line: \(line)")
    if let id = request.id { checkRoundTrip(RPCMessage.result(.null, id: id)) }
    checkRoundTrip(RPCError(.methodNotFound, "no method \(request.method)", id: request.id).response)
}

/// The value's JSON text parses back to the same value.
func checkRoundTrip(_ value: JSONValue) {
    let text = value.jsonText
    let again: JSONValue
    do {
        again = try JSONValue(parsing: Array(text.utf8))
    } catch {
        fatalError("written JSON does not read back (\(error)): \(text)")
    }
    check(same(again, value), "JSON changed through its text: \(text)")
}

/// Equal, with numbers compared by value: the writer prints an integral double as an integer.
func same(_ a: JSONValue?, _ b: JSONValue?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case (.int(let x)?, .double(let y)?), (.double(let y)?, .int(let x)?): return Double(x) == y
    case (.double(let x)?, .double(let y)?): return x == y
    case (.array(let x)?, .array(let y)?): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
    case (.object(let x)?, .object(let y)?): return x.count == y.count && x.allSatisfy { same($0.value, y[$0.key]) }
    default: return a == b
    }
}

/// Stops with `message` when `ok` is false. (A failed `precondition` prints no message in a release build.)
func check(_ ok: Bool, _ message: @autoclosure () -> String) {
    if !ok { fatalError(message()) }
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) })
