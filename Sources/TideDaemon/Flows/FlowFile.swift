// FlowFile.swift: the reload lifecycle of one flow script, as a value (tested without Lua or I/O).
import TideEngine
import TideProtocol

/// One script under `flows/`: the version serving, and the error of a newer version that failed.
///
/// A failed load keeps the previous good version serving (SPEC §4); a good load replaces it and
/// clears the error; deletion removes both.
public struct FlowFile: Sendable, Equatable {
    /// Where the file is in its lifecycle.
    public enum State: Sendable, Equatable {
        /// The newest version loaded and is serving.
        case serving
        /// The newest version failed; `serving` still holds the last good one, if any.
        case failed(FileError)
    }

    /// The path shown to users (`flows/backup.lua`).
    public let path: String
    /// The version that serves runs.
    public private(set) var serving: (script: FlowScript, flows: [FlowDefinition])?
    public private(set) var state: State
    /// Size and modification time of the version last seen, to skip unchanged files on a rescan.
    public private(set) var signature: FileSignature?

    /// A file seen for the first time.
    public init(path: String) {
        self.path = path
        self.state = .serving
    }

    /// The newest version loaded: it replaces the serving one.
    public mutating func loaded(_ script: FlowScript, flows: [FlowDefinition], signature: FileSignature?) {
        serving = (script, flows)
        state = .serving
        self.signature = signature
    }

    /// The newest version failed to load; the serving version (if any) stays.
    public mutating func failed(_ error: FileError, signature: FileSignature?) {
        state = .failed(error)
        self.signature = signature
    }

    /// The error of the newest version, if it failed.
    public var error: FileError? {
        if case .failed(let e) = state { return e }
        return nil
    }

    /// The flows this file serves.
    public var flows: [FlowDefinition] { serving?.flows ?? [] }

    public static func == (a: FlowFile, b: FlowFile) -> Bool {
        a.path == b.path && a.state == b.state && a.signature == b.signature && a.serving?.script == b.serving?.script
            && a.serving?.flows == b.serving?.flows
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
