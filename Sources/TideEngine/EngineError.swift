// EngineError.swift: the engine's one error type.

/// An error of the engine: what went wrong, in words that tell the user what to do.
public struct EngineError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The kind of failure.
    public enum Code: String, Sendable {
        /// The script failed to load (syntax error, error at top level, invalid flow definition).
        case load
        /// A bug or an environment failure inside tide.
        case `internal`
    }

    /// The kind of failure.
    public var code: Code
    /// The message: `file:line: what` where it comes from a script.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
