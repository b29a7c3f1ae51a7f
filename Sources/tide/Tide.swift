// Tide.swift: the `tide` command: subcommands, and errors turned into exit codes in one place.
import ArgumentParser
import Foundation
import TideEngine

/// The version of tide.
let tideVersion = "0.1.0"

@main
struct Tide: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tide",
        abstract: "Run Lua automation flows with real concurrency.",
        discussion: "Exit codes: 0 success, 1 the run or operation failed, 2 usage error, 3 daemon not reachable.",
        version: tideVersion,
        subcommands: [
            ServeCommand.self, RunCommand.self, FlowsCommand.self, RunsCommand.self, ShowCommand.self, LogsCommand.self,
            CancelCommand.self, ReloadCommand.self, StatusCommand.self, PluginsCommand.self, ExecCommand.self, CheckCommand.self,
            NextCommand.self,
        ])

    /// Parses, runs, and maps every error to SPEC §6's exit codes: 2 for usage errors.
    static func main() async {
        RunExecutor.configureProcess()
        InterruptHandler.blockTerminationSignals()
        signal(SIGPIPE, SIG_IGN)  // a closed pipe is an error to handle, not a reason to die
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                Foundation.exit(0)
            }
            if !message.isEmpty {
                FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
            }
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// An operation failed: prints `tide: message` and exits 1.
struct Failure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Writes to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
