// ProcessRequest.swift: a subprocess a task asked for, and what came of it.

/// A command to run for `sh` or `exec`.
public struct ProcessRequest: Sendable, Equatable {
    /// `argv[0]` is looked up in `PATH` unless it contains a slash.
    public var arguments: [String]
    /// Working directory (nil: the daemon's).
    public var workingDirectory: String?
    /// Variables merged over the daemon's environment.
    public var environment: [String: String]
    /// Bytes written to standard input (nil: empty input).
    public var standardInput: [UInt8]?
    /// Bytes kept of each output stream; the rest is read and dropped.
    public var captureLimit: Int
    /// The history node the output lines are logged under.
    public var node: Int32
}

/// The outcome of a subprocess.
public struct ProcessResult: Sendable, Equatable {
    /// Exit status, or 128 + signal number when killed by a signal; 127 when the command was not
    /// found, 126 when it could not be executed.
    public var status: Int32
    public var standardOutput: [UInt8]
    public var standardError: [UInt8]
    /// Seconds from start to exit.
    public var duration: Double
    /// Why the process could not be started, if it was not.
    public var failure: String?
}

/// Starts subprocesses for a run. Completions come back through the run's mailbox.
public protocol ProcessLauncher: AnyObject {
    /// Starts `request`; its result is delivered later under `id`.
    func launch(_ request: ProcessRequest, id: Int)
    /// Terminates the process started under `id` (process group: SIGTERM, SIGKILL after 2 s).
    func cancel(id: Int)
}
