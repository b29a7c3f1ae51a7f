import Foundation
import Testing
import TideProtocol

/// The reader and writer of JSONValue, checked against Foundation's JSONSerialization.
@Suite struct JSONTextTests {
    @Test("values read as the JSON types they are; integers keep their precision", arguments: [
        (#"null"#, JSONValue.null), (#"true"#, .bool(true)), (#" false "#, .bool(false)),
        (#"0"#, .int(0)), (#"-12"#, .int(-12)), (#"9223372036854775807"#, .int(.max)),
        (#"9223372036854775808"#, .double(9223372036854775808)), (#"1.5"#, .double(1.5)), (#"-2e3"#, .double(-2000)),
        (#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#, .string("a\"b\\c/d\n\té😀")),
        (#"[1,[],{}]"#, .array([.int(1), .array([]), .object([:])])),
        (#"{"a":{"b":[null]},"a2":"x"}"#, .object(["a": .object(["b": .array([.null])]), "a2": .string("x")])),
    ])
    func reads(text: String, expected: JSONValue) throws {
        #expect(try JSONValue(parsing: Array(text.utf8)) == expected)
    }

    @Test("invalid text is refused with the reason and the byte", arguments: [
        ("", "unexpected end"), ("{", "expected a string key"), ("[1,]", "unexpected character ']'"), ("01", "unexpected text after"),
        ("1.", "digits expected"), ("-", "invalid number"), ("tru", "invalid literal"), (#""abc"#, "unterminated"),
        ("\"a\u{01}\"", "control character"), (#""\x""#, "invalid escape"), (#""\ud800""#, "unpaired surrogate"),
        (#"{"a" 1}"#, "expected ':'"), ("[1 2]", "expected ',' or ']'"), ("1e999", "out of range"), ("{} {}", "after the value"),
    ])
    func refuses(text: String, reason: String) {
        #expect {
            _ = try JSONValue(parsing: Array(text.utf8))
        } throws: { error in
            "\(error)".contains(reason)
        }
    }

    @Test("invalid UTF-8 in a string is refused")
    func invalidUTF8() {
        #expect(throws: JSONParseError.self) { _ = try JSONValue(parsing: [0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test("nesting past 512 levels is an error, not a stack overflow")
    func depth() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { _ = try JSONValue(parsing: Array(deep.utf8)) }
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        _ = try JSONValue(parsing: Array(ok.utf8))
    }

    @Test("written text escapes what JSON requires and reads back to the same value")
    func writes() throws {
        let value = JSONValue.object([
            "s": .string("quote \" backslash \\ slash / newline \n tab \t bell \u{07} é 😀"),
            "n": .array([.int(-3), .double(0.1), .double(3), .double(1e20), .bool(true), .null]),
        ])
        let text = value.jsonText
        #expect(text.contains(#"\u0007"#))
        #expect(text.contains("/"))
        #expect(!text.contains(#"\/"#))
        #expect(try JSONValue(parsing: Array(text.utf8)) == .object([
            "s": value["s"]!, "n": .array([.int(-3), .double(0.1), .int(3), .double(1e20), .bool(true), .null]),
        ]))
        #expect(JSONValue.double(.nan).jsonText == "null")
    }

    @Test("generated documents read like Foundation's JSONSerialization reads them")
    func matchesFoundation() throws {
        var rng = SplitMix(seed: 42)
        for _ in 0..<500 {
            let value = Self.random(&rng, depth: 0)
            let text = value.jsonText
            let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            let ours = try JSONValue(parsing: Array(text.utf8))
            #expect(Self.same(ours, foundation), "\(text)")
            // and Foundation's own writing of it reads back the same
            let theirs = try JSONSerialization.data(withJSONObject: foundation, options: [.fragmentsAllowed])
            #expect(try JSONValue(parsing: theirs) == ours, "\(text)")
        }
    }

    static func random(_ rng: inout SplitMix, depth: Int) -> JSONValue {
        switch rng.next() % (depth > 3 ? 5 : 7) {
        case 0: return .null
        case 1: return .bool(rng.next() % 2 == 0)
        case 2: return .int(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 60))
        case 3: return .double(Double(Int64(bitPattern: rng.next()) >> 20) / 1024)
        case 4:
            let alphabet = Array("ab \"\\/\n\té😀\u{01}z")
            return .string(String((0..<Int(rng.next() % 8)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }))
        case 5: return .array((0..<Int(rng.next() % 4)).map { _ in random(&rng, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for i in 0..<Int(rng.next() % 4) { members["k\(i)"] = random(&rng, depth: depth + 1) }
            return .object(members)
        }
    }

    static func same(_ value: JSONValue, _ object: Any) -> Bool {
        switch value {
        case .null: return object is NSNull
        case .bool(let b): return (object as? Bool) == b
        case .int(let i): return (object as? NSNumber)?.int64Value == i
        // Foundation on Linux reads some numbers as NSDecimalNumber, whose doubleValue is
        // rounded: compare the decimal text it keeps
        case .double(let d): return (object as? NSNumber).flatMap { Double($0.description) } == d
        case .string(let s): return (object as? String) == s
        case .array(let items):
            guard let array = object as? [Any], array.count == items.count else { return false }
            return zip(items, array).allSatisfy { same($0, $1) }
        case .object(let members):
            guard let dictionary = object as? [String: Any], dictionary.count == members.count else { return false }
            return members.allSatisfy { key, item in dictionary[key].map { same(item, $0) } ?? false }
        }
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
