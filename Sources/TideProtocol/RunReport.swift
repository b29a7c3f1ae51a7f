// RunReport.swift: the JSON shape of a finished run (SPEC §6 `--json`, `run.get`).
import Foundation

/// A run as `tide exec --json` and `tide run --json` print it.
public struct RunReport: Codable, Sendable {
    public var runID: String
    public var flow: String
    public var status: RunStatus
    public var result: JSONValue?
    public var error: JSONValue?
    public var compensationErrors: JSONValue?
    public var steps: [Step]
    public var startedAt: String
    public var finishedAt: String?
    public var durationMilliseconds: Double?
    /// How the run was started (`manual`, `schedule`, `catchup`, `event`); history only.
    public var trigger: String?

    /// One node of the history.
    public struct Step: Codable, Sendable {
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

        /// The wire form of a record.
        public init(_ s: StepRecord) {
            id = s.id
            parent = s.parent
            kind = s.kind.rawValue
            name = s.name
            primitive = s.primitive
            status = s.status.rawValue
            attempts = s.kind == .step || s.kind == .compensation ? s.attempts : nil
            startedAt = isoTimestamp(s.startedAt)
            finishedAt = s.finishedAt.map(isoTimestamp)
            durationMilliseconds = s.durationMilliseconds.map { ($0 * 1000).rounded() / 1000 }
            result = JSONValue(text: s.result)
            error = JSONValue(text: s.error)
            total = s.total
            done = s.done
        }

        /// The record back from its wire form (times to the millisecond).
        public var record: StepRecord {
            StepRecord(
                id: id, parent: parent, kind: StepRecord.Kind(rawValue: kind) ?? .step, name: name, primitive: primitive,
                status: NodeStatus(rawValue: status) ?? .running, attempts: attempts ?? 0,
                startedAt: parseISOTimestamp(startedAt) ?? 0, finishedAt: finishedAt.flatMap(parseISOTimestamp),
                result: result?.jsonText, error: error?.jsonText, total: total, done: done)
        }

        enum CodingKeys: String, CodingKey {
            case id, parent, kind, name, primitive, status, attempts, result, error, total, done
            case startedAt = "started_at", finishedAt = "finished_at", durationMilliseconds = "duration_ms"
        }
    }

    enum CodingKeys: String, CodingKey {
        case runID = "run_id", flow, status, result, error, steps
        case compensationErrors = "compensation_errors", trigger
        case startedAt = "started_at", finishedAt = "finished_at", durationMilliseconds = "duration_ms"
    }

    /// The report of an outcome.
    public init(_ outcome: RunOutcome) {
        self.init(
            runID: outcome.runID, flow: outcome.flow, status: RunStatus(rawValue: outcome.status.rawValue)!,
            result: outcome.result, error: outcome.error, compensationErrors: outcome.compensationErrors,
            steps: outcome.steps, startedAt: outcome.startedAt, finishedAt: outcome.finishedAt)
    }

    /// A report from recorded fields (JSON texts as stored); `finishedAt` is nil while the run is
    /// queued or running.
    public init(runID: String, flow: String, status: RunStatus, result: String?, error: String?,
                compensationErrors: String?, steps: [StepRecord], startedAt: Double, finishedAt: Double?,
                trigger: String? = nil) {
        self.runID = runID
        self.flow = flow
        self.status = status
        self.result = status == .succeeded ? (JSONValue(text: result) ?? .null) : nil
        self.error = JSONValue(text: error)
        self.compensationErrors = JSONValue(text: compensationErrors)
        self.startedAt = isoTimestamp(startedAt)
        self.finishedAt = finishedAt.map(isoTimestamp)
        self.durationMilliseconds = finishedAt.map { (($0 - startedAt) * 1000 * 1000).rounded() / 1000 }
        self.steps = steps.map(Step.init)
        self.trigger = trigger
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
        try c.encodeIfPresent(trigger, forKey: .trigger)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        runID = try c.decode(String.self, forKey: .runID)
        flow = try c.decode(String.self, forKey: .flow)
        status = try c.decode(RunStatus.self, forKey: .status)
        result = try c.decodeIfPresent(JSONValue.self, forKey: .result)
        error = try c.decodeIfPresent(JSONValue.self, forKey: .error)
        if error == .null { error = nil }
        compensationErrors = try c.decodeIfPresent(JSONValue.self, forKey: .compensationErrors)
        steps = try c.decodeIfPresent([Step].self, forKey: .steps) ?? []
        startedAt = try c.decode(String.self, forKey: .startedAt)
        finishedAt = try c.decodeIfPresent(String.self, forKey: .finishedAt)
        durationMilliseconds = try c.decodeIfPresent(Double.self, forKey: .durationMilliseconds)
        trigger = try c.decodeIfPresent(String.self, forKey: .trigger)
    }

    /// The report as one line of JSON.
    public func jsonText() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = (try? encoder.encode(self)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

/// ISO 8601 with milliseconds and the local offset, e.g. `2026-11-21T19:28:00.123+01:00` (`Z` in UTC).
///
/// Written by hand: a run's history and notifications make many of these, and a date formatter
/// per call costs more than the run itself.
public func isoTimestamp(_ seconds: Double) -> String {
    var whole = seconds.rounded(.down)
    var millis = Int(((seconds - whole) * 1000).rounded())
    if millis == 1000 {
        whole += 1
        millis = 0
    }
    var time = time_t(whole)
    var parts = tm()
    localtime_r(&time, &parts)
    func pad(_ n: Int, _ width: Int) -> String {
        let digits = String(n)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
    var text = pad(Int(parts.tm_year) + 1900, 4) + "-" + pad(Int(parts.tm_mon) + 1, 2) + "-" + pad(Int(parts.tm_mday), 2)
    text += "T" + pad(Int(parts.tm_hour), 2) + ":" + pad(Int(parts.tm_min), 2) + ":" + pad(Int(parts.tm_sec), 2)
    text += "." + pad(millis, 3)
    let offset = Int(parts.tm_gmtoff)
    if offset == 0 {
        text += "Z"
    } else {
        let minutes = abs(offset) / 60
        text += (offset < 0 ? "-" : "+") + pad(minutes / 60, 2) + ":" + pad(minutes % 60, 2)
    }
    return text
}

/// Parses a timestamp made by ``isoTimestamp(_:)`` (or any ISO 8601 instant with an offset).
public func parseISOTimestamp(_ text: String) -> Double? {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date.timeIntervalSince1970 }
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text)?.timeIntervalSince1970
}
