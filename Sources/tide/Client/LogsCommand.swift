// LogsCommand.swift: `tide logs RUN [--follow]`: a run's log.
import ArgumentParser
import Foundation
import TideProtocol

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Print a run's log; with --follow, keep printing until the run ends.")

    @Argument(help: ArgumentHelp("The run id (see tide runs).", valueName: "run"))
    var runID: String

    @Flag(name: .long, help: "Keep printing new lines until the run ends.")
    var follow = false

    @OptionGroup var client: ClientOptions

    func run() throws {
        let connection = try client.connect()
        InterruptExit.install()
        let result: JSONValue
        do {
            result = try connection.call("run.logs", ["run_id": .string(runID), "follow": .bool(follow)]) { method, params in
                guard method == "run.log", let line = params["line"] else { return }
                emit(line)
            }
        } catch {
            throw client.report(error)
        }
        if case .array(let lines)? = result["lines"] {
            for line in lines { emit(line) }
        }
    }

    private func emit(_ line: JSONValue) {
        if client.json {
            print(line.jsonText)
        } else {
            let level = line["level"]?.string ?? "info"
            let time = line["time"]?.string.flatMap(parseISOTimestamp).map(clockTime) ?? "-"
            print("\(time) \(column(level.uppercased(), 5)) \(printable(line["message"]?.string ?? "", keepingLines: true))")
        }
        fflush(nil)
    }
}

/// "12:03:04.123".
func clockTime(_ seconds: Double) -> String {
    let formatter = DateFormatter()
    formatter.dateFormat = "HH:mm:ss.SSS"
    return formatter.string(from: Date(timeIntervalSince1970: seconds))
}

/// Ctrl-C in a client that follows something: stop following (the run goes on) and exit 130.
enum InterruptExit {
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static func install(message: String? = nil) {
        sources = [SIGINT, SIGTERM, SIGHUP].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if let message { FileHandle.standardError.write(Data(("\n" + message + "\n").utf8)) }
                _exit(130)
            }
            source.resume()
            return source
        }
    }
}
