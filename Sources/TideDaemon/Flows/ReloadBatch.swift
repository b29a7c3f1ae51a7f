// ReloadBatch.swift: what one reload found on disk, file by file, to be applied as one transaction.
import TideProtocol

/// The outcome of one reload for each file it looked at: removed, seen again unchanged, loaded
/// (validated in a fresh Lua state) or failed. ``FlowTable/applying(_:)`` applies it at once,
/// so a rename inside one batch is a rename whatever the order of the two names.
public struct ReloadBatch: Sendable, Equatable {
    /// What happened to one file.
    public enum Change: Sendable, Equatable {
        /// The file is gone: its flows go with it.
        case removed
        /// Seen again with the same bytes (touched, or saved unchanged): nothing was loaded.
        case same(FileSignature?, digest: Int?)
        /// The newest version loaded; it serves unless a flow name of it is taken.
        case loaded(FlowVersion, FileSignature?, digest: Int?)
        /// The newest version failed to load (the message has file:line); the old one serves on.
        case failed(String, FileSignature?, digest: Int?)
    }

    /// By path as users see it (`flows/a.lua`).
    public var changes: [String: Change]
    /// When the batch was read (ISO 8601): the `since` of its new errors.
    public var time: String

    /// A batch.
    public init(changes: [String: Change] = [:], time: String) {
        self.changes = changes
        self.time = time
    }
}
