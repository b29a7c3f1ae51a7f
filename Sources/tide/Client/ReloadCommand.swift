// ReloadCommand.swift: `tide reload`: rescan flows and plugins now.
import ArgumentParser
import TideProtocol

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload", abstract: "Rescan flows and plugins now (the daemon also reloads on its own when files change).")

    @OptionGroup var client: ClientOptions

    func run() throws {
        let result = try client.call("reload")
        if client.json { return client.printJSON(result) }
        let list = try? result.decode(as: FlowsList.self)
        let changed = result["changed"].flatMap { v -> [String]? in
            if case .array(let a) = v { return a.compactMap(\.string) }
            return nil
        } ?? []
        print("reloaded: \(list?.flows.count ?? 0) flows\(changed.isEmpty ? ", nothing changed" : ", changed: " + changed.joined(separator: ", "))")
        for error in list?.errors ?? [] {
            print("✗ \(error.error)")
        }
        if !(list?.errors.isEmpty ?? true) { throw ExitCode(1) }
    }
}
