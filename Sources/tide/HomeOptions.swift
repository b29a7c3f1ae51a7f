// HomeOptions.swift: where the tide home is (--home, TIDE_HOME, or the current directory).
import ArgumentParser
import Foundation

/// The `--home` option shared by commands that use a home.
struct HomeOptions: ParsableArguments {
    @Option(name: .long, help: "The tide home (default: $TIDE_HOME, else the current directory).")
    var home: String?

    /// The home folder, absolute.
    var path: String {
        let raw = home ?? ProcessInfo.processInfo.environment["TIDE_HOME"] ?? FileManager.default.currentDirectoryPath
        return URL(fileURLWithPath: raw).standardizedFileURL.path
    }

    /// The home's plugins folder.
    var plugins: String { path + "/plugins" }
}
