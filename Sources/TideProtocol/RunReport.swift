// RunReport.swift: the JSON shape of a finished run (SPEC §6 `--json`, `run.get`).
import Foundation

/// A run as `tide exec --json` and `tide run --json` print it.
public struct RunReport: Encodable, Sendable {
    public var runID: String
    public var flow: String
    public var status: RunOutcome.Status
    public var result: JSONValue?
    public var error: JSONValue?
    public var compensationErrors: JSONValue?
    public var steps: [Step]
    public var startedAt: String
    public var finishedAt: String
    public var durationMilliseconds: Double

    /// One node of the history.
    public struct Step: Encodable, Sendable {
        public var id: Int
        public var parent: Int?
        public var kind: String
        public var name: String
        public var primitive: String?
        public var status: String
        public var attempts: Int?
        public var startedAt: String
        public var finishedAt: String?
        public var durationMilliseconds: Double?
        public var result: JSONValue?
        public var error: JSONValue?
        public var total: Int?
        public var done: Int?

        enum CodingKeys: String, CodingKey {
            case id, parent, kind, name, primitive, status, attempts, result, error, total, done
            case startedAt = "started_at", finishedAt = "finished_at", durationMilliseconds = "duration_ms"
        }
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id", flow, status, result, error, steps
        case compensationErrors = "compensation_errors"
        case startedAt = "started_at", finishedAt = "finished_at", durationMilliseconds = "duration_ms"
    }

    /// The report of an outcome.
    public init(_ outcome: RunOutcome) {
        runID = outcome.runID
        flow = outcome.flow
        status = outcome.status
        result = outcome.status == .succeeded ? (JSONValue(text: outcome.result) ?? .null) : nil
        error = JSONValue(text: outcome.error)
        compensationErrors = JSONValue(text: outcome.compensationErrors)
        startedAt = isoTimestamp(outcome.startedAt)
        finishedAt = isoTimestamp(outcome.finishedAt)
        durationMilliseconds = ((outcome.finishedAt - outcome.startedAt) * 1000 * 1000).rounded() / 1000
        steps = outcome.steps.map { s in
            Step(
                id: s.id, parent: s.parent, kind: s.kind.rawValue, name: s.name, primitive: s.primitive,
                status: s.status.rawValue, attempts: s.kind == .step || s.kind == .compensation ? s.attempts : nil,
                startedAt: isoTimestamp(s.startedAt), finishedAt: s.finishedAt.map(isoTimestamp),
                durationMilliseconds: s.durationMilliseconds.map { ($0 * 1000).rounded() / 1000 },
                result: JSONValue(text: s.result), error: JSONValue(text: s.error), total: s.total, done: s.done)
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(runID, forKey: .runID)
        try c.encode(flow, forKey: .flow)
        try c.encode(status, forKey: .status)
        try c.encode(result ?? .null, forKey: .result)
        try c.encode(error ?? .null, forKey: .error)
        if let compensationErrors { try c.encode(compensationErrors, forKey: .compensationErrors) }
        try c.encode(steps, forKey: .steps)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(finishedAt, forKey: .finishedAt)
        try c.encode(durationMilliseconds, forKey: .durationMilliseconds)
    }

    /// The report as one line of JSON.
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// ISO 8601 with milliseconds and the local offset, e.g. `2026-11-21T19:28:00.123+01:00`.
public func isoTimestamp(_ seconds: Double) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    formatter.timeZone = .current
    return formatter.string(from: Date(timeIntervalSince1970: seconds))
}
