// FlowHarness.swift: runs flow scripts through the real engine for tests.
import Foundation
import Synchronization
import TideEngine
import TideProtocol

/// Runs `source` (a script defining one flow) and returns the outcome.
func runFlow(
    _ source: String, flow: String? = nil, payload: String? = nil, virtualTime: Bool = false,
    limits: EngineLimits = EngineLimits(), observer: RunObserver = NullObserver()
) async -> RunOutcome {
    let request = RunRequest(
        script: FlowScript(path: "test.lua", source: source), flow: flow, payload: payload, runID: "run_test")
    let clock: EngineClock = virtualTime ? ManualClock() : SystemClock()
    return await RunExecutor.execute(request, limits: limits, observer: observer, clock: clock)
}

/// Wraps a run body in a one-flow script.
func script(_ body: String, options: String = "") -> String {
    "flow { name = \"t\", \(options) run = function(ctx)\n\(body)\nend }\n"
}

extension RunOutcome {
    /// The result as a JSON value (nil unless the run succeeded).
    var value: JSONValue? { status == .succeeded ? JSONValue(text: result) : nil }
    /// The error object.
    var errorValue: JSONValue? { JSONValue(text: error) }
    /// The error's message.
    var errorMessage: String { errorValue?["message"]?.string ?? "" }
    /// The error's code.
    var errorCode: String? { errorValue?["code"]?.string }
}

/// Collects events, for assertions on live reporting.
final class EventLog: RunObserver, Sendable {
    private let events = Mutex<[RunEvent]>([])
    func record(_ event: RunEvent) { events.withLock { $0.append(event) } }
    var all: [RunEvent] { events.withLock { $0 } }
    var logLines: [String] {
        all.compactMap { if case .log(let l) = $0 { return l.message } else { return nil } }
    }
}

/// JSON value helpers for literals in expectations.
extension JSONValue: ExpressibleByIntegerLiteral, ExpressibleByStringLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { a, _ in a }))
    }
}

/// A JSON number as a Double.
func number(_ value: JSONValue?) -> Double? {
    switch value {
    case .int(let i)?: Double(i)
    case .double(let d)?: d
    default: nil
    }
}
