// ServeCommand.swift: `tide serve`: run the daemon in the foreground.
import ArgumentParser
import Foundation
import Logging
import TideDaemon
import TideEngine

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the daemon in the foreground: watch flows/, take commands on the socket, record every run.",
        discussion: """
            SIGTERM or SIGINT stops it gracefully: no new runs, running runs get the grace period, then are \
            cancelled and recorded as cancelled; queued runs stay queued for the next start. SIGHUP rescans flows.
            """)

    @OptionGroup var home: HomeOptions

    @Option(name: .long, help: "Folder of the state database (default: HOME/.tide).")
    var state: String?

    @Option(name: .long, help: "Path of the control socket (default: HOME/.tide/tide.sock).")
    var socket: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(name: .long, help: "Finished runs kept per flow.")
    var keepRuns: Int = 1000

    @Option(name: .long, help: "Runs executing at once across all flows; more wait in the queue.")
    var maxRuns: Int = 256

    @Option(name: .long, help: "How long running runs may go on after a stop request, e.g. 10s, 2m.")
    var gracePeriod: String = "10s"

    @Option(name: .long, help: "Connections to the control socket held at once; at the limit, one that sent nothing makes room, else a new one is refused.")
    var maxConnections: Int = ControlServer.defaultMaxConnections

    @Flag(name: .long, help: "Poll for file changes instead of using inotify.")
    var poll = false

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got '\(logLevel)'")
        }
        guard keepRuns >= 1 else { throw ValidationError("--keep-runs must be at least 1") }
        guard maxRuns >= 1 else { throw ValidationError("--max-runs must be at least 1") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard parseDuration(gracePeriod) != nil else {
            throw ValidationError("--grace-period must be a duration such as 500ms, 10s or 2m; got '\(gracePeriod)'")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "tide")
        var configuration = DaemonConfiguration(
            home: home.path, state: state.map(absolute), socket: socket.map(absolute), version: tideVersion)
        configuration.keepRuns = keepRuns
        configuration.maxRunning = maxRuns
        configuration.gracePeriod = .milliseconds(Int64(parseDuration(gracePeriod)! * 1000))
        configuration.polling = poll
        configuration.maxConnections = maxConnections
        do {
            try await Daemon.run(configuration, logger: logger)
            await SharedHTTPClient.shutdown()  // every run has ended: close the pooled connections
        } catch let error as DaemonError {
            await SharedHTTPClient.shutdown()
            printError("tide: \(error.message)")
            throw ExitCode(1)
        }
    }

    private func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }
}
