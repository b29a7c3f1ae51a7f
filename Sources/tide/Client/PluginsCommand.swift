// PluginsCommand.swift: `tide plugins`: the plugins the daemon loaded, and the ones that fail.
import ArgumentParser
import TideProtocol

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the home's plugins with their version, description and file; and the plugins that fail to load.",
        discussion: "Check a plugin without a daemon with `tide check plugins/NAME.lua`.")

    @OptionGroup var client: ClientOptions

    func run() throws {
        let result = try client.call("plugins.list")
        if client.json { return client.printJSON(result) }
        guard let list = try? result.decode(as: PluginsList.self) else { throw Failure(message: "unexpected answer: \(result.jsonText)") }
        if list.plugins.isEmpty {
            print(list.errors.isEmpty ? "no plugins (put Lua modules in the home's plugins/ folder)" : "no plugin loads")
        } else {
            print("\(column("PLUGIN", 16)) \(column("VERSION", 10)) \(column("FILE", 28)) DESCRIPTION")
            for p in list.plugins {
                var notes: [String] = []
                if p.kind == "c" { notes.append("C module") }
                if p.configured { notes.append("configured in plugins.json") }
                let description = (p.description ?? "") + (notes.isEmpty ? "" : (p.description == nil ? "" : "  ") + "(\(notes.joined(separator: ", ")))")
                print("\(column(p.name, 16)) \(column(p.version ?? "-", 10)) \(column(p.file, 28)) \(printable(description))")
            }
        }
        if !list.errors.isEmpty {
            print("")
            print("failed to load (\(list.errors.count)):")
            for e in list.errors {
                print("  ✗ \(printable(e.error))")
            }
        }
    }
}
