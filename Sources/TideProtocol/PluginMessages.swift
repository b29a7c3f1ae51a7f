// PluginMessages.swift: the result of `plugins.list`: the plugins of a home and the ones that fail.

/// A plugin that loads, as `plugins.list` shows it.
public struct PluginInfo: Codable, Sendable, Equatable {
    /// The name flows `require`.
    public var name: String
    /// The file it loads from, relative to the home (`plugins/notify.lua`).
    public var file: String
    /// `lua` or `c` (a Lua C module, `plugins/NAME.so`).
    public var kind: String
    /// The plugin's `version` (or a C module's `_VERSION`).
    public var version: String?
    /// The plugin's `description` (or `_DESCRIPTION`).
    public var description: String?
    /// It has a `setup(config)` function.
    public var hasSetup: Bool
    /// `plugins.json` has an entry for it.
    public var configured: Bool

    /// Creates an entry.
    public init(name: String, file: String, kind: String = "lua", version: String? = nil, description: String? = nil,
                hasSetup: Bool = false, configured: Bool = false) {
        self.name = name
        self.file = file
        self.kind = kind
        self.version = version
        self.description = description
        self.hasSetup = hasSetup
        self.configured = configured
    }

    enum CodingKeys: String, CodingKey {
        case name, file, kind, version, description, configured
        case hasSetup = "has_setup"
    }
}

/// The result of `plugins.list`.
public struct PluginsList: Codable, Sendable, Equatable {
    /// The plugins that load, by name.
    public var plugins: [PluginInfo]
    /// Plugins that fail to load, and problems of `plugins.json`, with their errors.
    public var errors: [FileError]
    /// `plugins.json` when the home has one.
    public var settings: String?

    /// Creates the list.
    public init(plugins: [PluginInfo], errors: [FileError], settings: String? = nil) {
        self.plugins = plugins
        self.errors = errors
        self.settings = settings
    }
}
