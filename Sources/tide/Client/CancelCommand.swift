// CancelCommand.swift: `tide cancel RUN`: cancel a running or queued run.
import ArgumentParser
import TideProtocol

struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel a running or queued run: its commands are stopped and its compensations run.",
        discussion: "Waits until the run has ended (compensations included), then prints how it ended.")

    @Argument(help: ArgumentHelp("The run id (see tide runs).", valueName: "run"))
    var runID: String

    @OptionGroup var client: ClientOptions

    func run() throws {
        let result = try client.call("run.cancel", ["run_id": .string(runID), "wait": .bool(true)])
        if client.json { return client.printJSON(result) }
        let status = result["status"]?.string ?? "?"
        let message = result["error"]?["message"]?.string.map { ": \($0)" } ?? ""
        print("\(statusMark(status)) \(runID) \(status)\(message)")
    }
}
