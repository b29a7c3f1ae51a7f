// PluginFolder.swift: what a home's plugins/ folder holds: plugin names, their files, misnamed files.
import Foundation

/// One plugin name found in `plugins/` and the files that provide it (more than one is an error,
/// which loading it reports).
public struct PluginCandidate: Sendable, Equatable {
    /// The name flows `require`.
    public var name: String
    /// Its files relative to the home, in the order `require` looks: `plugins/x.lua`,
    /// `plugins/x/init.lua`, `plugins/x.so`.
    public var files: [String]

    /// Creates a candidate.
    public init(name: String, files: [String]) {
        self.name = name
        self.files = files
    }
}

/// A problem of a file under `plugins/` or of `plugins.json`, as `file` and a message that
/// starts with it.
public struct PluginProblem: Error, Sendable, Equatable {
    /// The file, relative to the home.
    public var file: String
    /// What is wrong (`plugins/x.lua:3: ...`).
    public var message: String
    /// The plugin's name, when the problem is one plugin's.
    public var name: String?

    /// Creates a problem.
    public init(file: String, message: String, name: String? = nil) {
        self.file = file
        self.message = message
        self.name = name
    }
}

/// Reads the top level of a plugins folder. A plugin is `NAME.lua`, `NAME/init.lua` or `NAME.so`;
/// other files (a README, data) and folders without `init.lua` (namespaces of `require "a.b"`)
/// are not plugins of their own. Hidden entries are skipped.
public enum PluginFolder {
    /// The plugins of `folder`, sorted by name, and the files that cannot be plugins.
    public static func scan(_ folder: String) -> (candidates: [PluginCandidate], problems: [PluginProblem]) {
        let fm = FileManager.default
        guard let entries = try? fm.contentsOfDirectory(atPath: folder) else { return ([], []) }
        var files: [String: [(order: Int, file: String)]] = [:]
        var problems: [PluginProblem] = []
        for entry in entries.sorted() where !entry.hasPrefix(".") {
            let path = folder + "/" + entry
            let display = "plugins/" + entry
            var isFolder: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isFolder) else {
                if let target = try? fm.destinationOfSymbolicLink(atPath: path),
                   entry.hasSuffix(".lua") || entry.hasSuffix(".so") || !entry.contains(".") {
                    problems.append(PluginProblem(
                        file: display, message: "\(display): a symbolic link to \(target), which does not exist (is the package that provides it installed?)",
                        name: baseName(entry)))
                }
                continue
            }
            let name: String
            let order: Int
            let file: String
            if isFolder.boolValue {
                guard fm.fileExists(atPath: path + "/init.lua") else { continue }  // a namespace
                (name, order, file) = (entry, 1, display + "/init.lua")
            } else if entry.hasSuffix(".lua") {
                (name, order, file) = (String(entry.dropLast(4)), 0, display)
            } else if entry.hasSuffix(".so") {
                (name, order, file) = (String(entry.dropLast(3)), 2, display)
            } else {
                continue
            }
            if name.contains(".") {
                let rest = name.replacingOccurrences(of: ".", with: "/")
                problems.append(PluginProblem(
                    file: file,
                    message: "\(file): a plugin's name cannot contain '.': require \"\(name)\" looks for plugins/\(rest)\(order == 2 ? ".so" : ".lua"), so this file is never loaded (rename it)"))
                // no name: the error is this file's, not that of a module "a.b" that plugins/a/b.lua may provide
                continue
            }
            files[name, default: []].append((order, file))
        }
        let candidates = files.keys.sorted().map { name in
            PluginCandidate(name: name, files: files[name]!.sorted { $0.order < $1.order }.map(\.file))
        }
        return (candidates, problems)
    }

    /// What a file given on the command line (`tide check plugins/x.lua`) is, when it is under
    /// `folder`: a plugin (or a module inside one), or a file no `require` reaches.
    public static func check(file path: String, in folder: String) -> Result<PluginCandidate, PluginProblem>? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path + "/"
        guard absolute.hasPrefix(root) else { return nil }
        if let candidate = candidate(forFile: path, in: folder) { return .success(candidate) }
        let relative = "plugins/" + absolute.dropFirst(root.count)
        return .failure(PluginProblem(
            file: relative,
            message: "\(relative): not a plugin: plugins are plugins/NAME.lua, plugins/NAME/init.lua or plugins/NAME.so, and a name cannot contain '.' (require \"a.b\" loads plugins/a/b.lua)"))
    }

    /// The candidate for a file given on the command line (`tide check plugins/x.lua`), when the
    /// file is one of `folder`'s plugins.
    public static func candidate(forFile path: String, in folder: String) -> PluginCandidate? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let root = URL(fileURLWithPath: folder).standardizedFileURL.path + "/"
        guard absolute.hasPrefix(root) else { return nil }
        let relative = String(absolute.dropFirst(root.count))
        let name: String
        if relative.hasSuffix("/init.lua") {
            name = String(relative.dropLast("/init.lua".count))
        } else if relative.hasSuffix(".lua") {
            name = String(relative.dropLast(4))
        } else if relative.hasSuffix(".so") {
            name = String(relative.dropLast(3))
        } else {
            return nil
        }
        guard !name.isEmpty, !name.contains(".") else { return nil }
        // a module inside a plugin's folder is required as "plugin.module"
        return PluginCandidate(name: name.replacingOccurrences(of: "/", with: "."), files: ["plugins/" + relative])
    }

    /// Every `.lua` file under `folder` below its top level (modules in namespaces and inside
    /// plugins' folders), relative to the home (`plugins/a/b.lua`), sorted; hidden entries and
    /// what lies under them are skipped.
    public static func modules(_ folder: String) -> [String] {
        let root = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path  // plugins/ may be a link
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        var out: [String] = []
        while let item = walker.nextObject() as? String {
            let parts = item.split(separator: "/")
            if parts.last?.hasPrefix(".") == true {
                walker.skipDescendants()
                continue
            }
            if parts.count > 1, item.hasSuffix(".lua") { out.append("plugins/" + item) }
        }
        return out.sorted()
    }

    /// The name `require` loads `file` (`plugins/a/b.lua`, `plugins/a/b/init.lua`) by: `a.b`.
    public static func moduleName(ofFile file: String) -> String? {
        guard file.hasPrefix("plugins/"), file.hasSuffix(".lua") else { return nil }
        var path = file.dropFirst("plugins/".count).dropLast(4)
        if path.hasSuffix("/init") { path = path.dropLast(5) }
        return path.isEmpty ? nil : path.replacingOccurrences(of: "/", with: ".")
    }

    private static func baseName(_ entry: String) -> String {
        for suffix in [".lua", ".so"] where entry.hasSuffix(suffix) { return String(entry.dropLast(suffix.count)) }
        return entry
    }
}
