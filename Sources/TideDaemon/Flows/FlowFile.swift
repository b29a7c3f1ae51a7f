// FlowFile.swift: the reload lifecycle of one flow script, as a value (tested without Lua or I/O).
import TideEngine
import TideProtocol

/// One version of a script that loaded: its text and the flows it defines.
public struct FlowVersion: Sendable, Equatable {
    public var script: FlowScript
    public var flows: [FlowDefinition]

    /// A version.
    public init(script: FlowScript, flows: [FlowDefinition]) {
        self.script = script
        self.flows = flows
    }
}

/// One script under `flows/`: the version serving, and the error of a newer version that failed.
///
/// A failed load keeps the previous good version serving (SPEC §4); a good load replaces it and
/// clears the error; deletion removes both. A newer version that loads but defines a name
/// another file serves waits as a candidate: it serves as soon as that name is free, without
/// being loaded again.
public struct FlowFile: Sendable, Equatable {
    /// Where the file is in its lifecycle.
    public enum State: Sendable, Equatable {
        /// The newest version loaded and is serving.
        case serving
        /// The newest version failed; `serving` still holds the last good one, if any.
        case failed(FileError)
        /// The newest version loaded but a flow name of it is taken (the error says by whom);
        /// `serving` still holds the last good one, if any.
        case waiting(FlowVersion, FileError)
    }

    /// The path shown to users (`flows/backup.lua`).
    public let path: String
    /// The version that serves runs.
    public private(set) var serving: FlowVersion?
    public private(set) var state: State
    /// Size and modification time of the version last seen, to skip unchanged files on a rescan.
    public private(set) var signature: FileSignature?
    /// A digest of the bytes of the version last seen: a file touched or rewritten with the same
    /// text is not loaded again (a looping top level costs its load limit once, not per change).
    public private(set) var digest: Int?

    /// A file seen for the first time.
    public init(path: String) {
        self.path = path
        self.state = .serving
    }

    /// The newest version loaded: it replaces the serving one.
    public mutating func loaded(_ script: FlowScript, flows: [FlowDefinition], signature: FileSignature?, digest: Int? = nil) {
        serving = FlowVersion(script: script, flows: flows)
        state = .serving
        seen(signature, digest: digest)
    }

    /// The newest version failed to load; the serving version (if any) stays.
    public mutating func failed(_ error: FileError, signature: FileSignature?, digest: Int? = nil) {
        state = .failed(error)
        seen(signature, digest: digest)
    }

    /// The newest version loaded but must wait for a flow name; the serving version (if any)
    /// stays. Waiting again with the same message keeps the error's `since`.
    public mutating func waiting(_ version: FlowVersion, error: FileError) {
        state = .waiting(version, keepingSince(error))
    }

    /// The file was seen again with the same content (touched, or rewritten with the same text).
    public mutating func seen(_ signature: FileSignature?, digest: Int?) {
        self.signature = signature
        self.digest = digest
    }

    /// The error of the newest version, if it failed or waits.
    public var error: FileError? {
        switch state {
        case .serving: nil
        case .failed(let e), .waiting(_, let e): e
        }
    }

    /// The newest version, when it loaded but does not serve yet.
    public var candidate: FlowVersion? {
        if case .waiting(let version, _) = state { return version }
        return nil
    }

    /// Whether `other` serves the same version with the same error (what users see; the
    /// signature and digest aside).
    public func showsTheSame(as other: FlowFile?) -> Bool {
        guard let other else { return false }
        return serving == other.serving && state == other.state
    }

    /// The flows this file serves.
    public var flows: [FlowDefinition] { serving?.flows ?? [] }

    private func keepingSince(_ error: FileError) -> FileError {
        guard let old = self.error, old.error == error.error else { return error }
        return FileError(file: error.file, error: error.error, since: old.since)
    }
}

/// What identifies a version of a file without reading it.
public struct FileSignature: Sendable, Equatable {
    public var size: Int64
    public var modified: Int64
    public var inode: UInt64

    /// Creates a signature.
    public init(size: Int64, modified: Int64, inode: UInt64) {
        self.size = size
        self.modified = modified
        self.inode = inode
    }
}
