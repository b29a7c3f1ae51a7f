// FlowHarness.swift: runs flow scripts through the real engine for tests.
import Foundation
import Synchronization
import Testing
import TideEngine
import TideProtocol

/// Runs `source` (a script defining one flow) and returns the outcome.
func runFlow(
    _ source: String, flow: String? = nil, payload: String? = nil, virtualTime: Bool = false,
    limits: EngineLimits = EngineLimits(), observer: RunObserver = NullObserver(),
    deadline: Duration = .seconds(120), sourceLocation: SourceLocation = #_sourceLocation
) async -> RunOutcome {
    let request = RunRequest(
        script: FlowScript(path: "test.lua", source: source), flow: flow, payload: payload, runID: "run_test")
    let clock: EngineClock = virtualTime ? ManualClock() : SystemClock()
    return await execute(request, limits: limits, observer: observer, clock: clock, deadline: deadline, sourceLocation: sourceLocation)
}

/// Runs `request` in-process; no test can hang the suite on it. Past `deadline` the run is
/// cancelled and the test fails; a run that has not stopped 10 s after that is abandoned (its
/// thread may spin on, but the test returns a failed outcome and the suite goes on).
func execute(
    _ request: RunRequest, limits: EngineLimits = EngineLimits(), observer: RunObserver = NullObserver(),
    clock: EngineClock = SystemClock(), deadline: Duration = .seconds(120),
    sourceLocation: SourceLocation = #_sourceLocation
) async -> RunOutcome {
    let cancellation = RunCancellation()
    let outcome = OneShot<RunOutcome>()
    let run = Task {
        outcome.offer(await RunExecutor.execute(request, limits: limits, observer: observer, clock: clock, cancellation: cancellation))
    }
    let watch = Task {
        guard (try? await Task.sleep(for: deadline)) != nil else { return }
        Issue.record("the run did not end within \(deadline); cancelling it", sourceLocation: sourceLocation)
        cancellation.cancel(reason: "the test's deadline of \(deadline) passed")
        guard (try? await Task.sleep(for: .seconds(10))) != nil else { return }
        Issue.record("the run did not stop within 10 s of its cancel; abandoned", sourceLocation: sourceLocation)
        outcome.offer(RunOutcome(
            runID: request.runID, flow: request.flow ?? "", status: .failed,
            error: #"{"code":"test_deadline","message":"abandoned by the test"}"#, startedAt: 0, finishedAt: 0))
    }
    // the caller's cancellation reaches the run as RunExecutor's own would
    let result = await withTaskCancellationHandler {
        await outcome.value
    } onCancel: {
        cancellation.cancel(reason: "its caller was cancelled")
    }
    watch.cancel()
    _ = run  // a run abandoned past its deadline goes on alone; one that returned is done
    return result
}

/// A value that the first of several offers sets, awaited once.
final class OneShot<T: Sendable>: Sendable {
    private struct State {
        var value: T?
        var waiter: CheckedContinuation<T, Never>?
    }
    private let state = Mutex(State())

    func offer(_ value: T) {
        let waiter = state.withLock { s -> CheckedContinuation<T, Never>? in
            guard s.value == nil else { return nil }
            s.value = value
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: value)
    }

    var value: T {
        get async {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { s -> T? in
                    if s.value == nil { s.waiter = continuation }
                    return s.value
                }
                if let ready { continuation.resume(returning: ready) }
            }
        }
    }
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
