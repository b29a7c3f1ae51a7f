// StatusCommand.swift: `tide status`: the daemon's health.
import ArgumentParser
import TideProtocol

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the daemon's health: version, uptime, flows, running and queued runs.")

    @OptionGroup var client: ClientOptions

    func run() throws {
        let result = try client.call("daemon.status")
        if client.json { return client.printJSON(result) }
        guard let s = try? result.decode(as: DaemonStatus.self) else { throw Failure(message: "unexpected answer: \(result.jsonText)") }
        print("tide \(s.version) (pid \(s.pid)), up \(formatDuration(s.uptimeSeconds * 1000))")
        print("home     \(s.home)")
        print("state    \(s.state)")
        print("socket   \(s.socket)")
        print("watcher  \(s.watcher)")
        print("flows    \(s.flows)\(s.failedFiles > 0 ? "  (\(s.failedFiles) file\(s.failedFiles == 1 ? "" : "s") failed to load: tide flows)" : "")")
        print("runs     \(s.running) running, \(s.queued) queued")
    }
}
