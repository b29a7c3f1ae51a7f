// A fresh temporary folder per test, for its Lua scripts (and the tide home).
import Foundation

/// A uniquely named temporary folder; `withScratchDirectory` removes it when the test is done.
struct ScratchDirectory: Sendable {
    let url: URL

    var path: String { url.path }

    /// Writes `contents` to `name` inside the folder and returns the file's absolute path.
    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        let file = url.appending(path: name)
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try contents.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    /// True when `name` exists inside the folder.
    func exists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: url.appending(path: name).path)
    }
}

/// Runs `body` with a fresh scratch folder and removes the folder afterwards, whatever happens.
func withScratchDirectory<T>(_ body: (ScratchDirectory) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory
        .appending(path: "tide-cli-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(ScratchDirectory(url: url))
}
