// FlowScript.swift: the source of a flow script and where it came from.
import Foundation

/// A flow script: its text and the path used in messages (`path:line: ...`).
public struct FlowScript: Sendable, Equatable {
    /// The path as shown in messages (relative to the home, or as given).
    public var path: String
    /// The script's text.
    public var source: String

    /// Creates a script from text.
    public init(path: String, source: String) {
        self.path = path
        self.source = source
    }

    /// Reads a script file; the file must be UTF-8 text.
    public init(contentsOf path: String, displayPath: String? = nil) throws(EngineError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw EngineError(.load, "\(displayPath ?? path): cannot read the file (does it exist?)")
        }
        try self.init(data: data, path: displayPath ?? path)
    }

    /// A script from a file's bytes, read by the caller; they must be UTF-8 text.
    public init(data: Data, path: String) throws(EngineError) {
        guard let text = String(data: data, encoding: .utf8) else {
            throw EngineError(.load, "\(path): not valid UTF-8 text (is it a Lua script?)")
        }
        self.init(path: path, source: text)
    }

    /// The file name without `.lua`: the default flow name of a script that defines one flow.
    public var baseName: String {
        let name = (path as NSString).lastPathComponent
        return name.hasSuffix(".lua") ? String(name.dropLast(4)) : name
    }
}
