// ExecutableResolver.swift: finds a command in PATH once, like a shell's hash table.
import Foundation
import Synchronization

/// Resolves command names to paths. swift-subprocess resolves a bare name by attempting a spawn
/// in every `PATH` directory in turn, which costs one failed spawn per directory before the right
/// one; looking the name up once (and re-checking the cached path with `access`) keeps a batch
/// of short commands as fast as `xargs`.
final class ExecutableResolver: Sendable {
    static let shared = ExecutableResolver()

    private let cache = Mutex<[String: String]>([:])

    /// The path of `command` found in `path` (a `PATH` value), or nil if none is executable.
    func resolve(_ command: String, path: String) -> String? {
        let key = command + "\0" + path
        if let hit = cache.withLock({ $0[key] }), access(hit, X_OK) == 0 { return hit }
        for directory in path.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = directory + "/" + command
            var info = stat()
            if access(candidate, X_OK) == 0, stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG {
                cache.withLock { $0[key] = candidate }
                return candidate
            }
        }
        return nil
    }
}
