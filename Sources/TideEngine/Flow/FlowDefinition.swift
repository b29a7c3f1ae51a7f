// FlowDefinition.swift: one flow{} of a script, as validated by the prelude.

/// A flow as a script defines it (SPEC §2); durations in seconds, memory in bytes.
public struct FlowDefinition: Sendable, Codable, Equatable {
    public var name: String
    public var description: String?
    public var schedule: [String]?
    public var timezone: String?
    public var overlap: String?
    public var catchup: String?
    public var catchupWindow: Double?
    public var jitter: Double?
    public var timeout: Double?
    public var maxConcurrent: Int?
    public var on: [String]?
    public var memory: Int?
    /// The line of the `flow{}` call.
    public var line: Int
    public var hasOnFailure: Bool?

    /// A definition with only a name (the rest as the flow left it out).
    public init(name: String, line: Int, description: String? = nil, schedule: [String]? = nil, on: [String]? = nil,
                maxConcurrent: Int? = nil) {
        self.name = name
        self.line = line
        self.description = description
        self.schedule = schedule
        self.on = on
        self.maxConcurrent = maxConcurrent
    }

    enum CodingKeys: String, CodingKey {
        case name, description, schedule, timezone, overlap, catchup, jitter, timeout, on, memory, line
        case catchupWindow = "catchup_window"
        case maxConcurrent = "max_concurrent"
        case hasOnFailure = "has_on_failure"
    }
}
