// FlowTable.swift: every script of a home and the file serving each flow name, as a value.
import TideProtocol

/// The flow scripts of a home as one value: each file's lifecycle (``FlowFile``), and which file
/// serves each flow name.
///
/// A reload is the pure function ``applying(_:)`` from the table and a ``ReloadBatch`` to the
/// next table. Flow names stay unique across the home: a newer version that defines a name
/// another file serves waits (an error of that later file) with its validated version kept,
/// and serves as soon as the name is free, in the same batch or a later one, without being
/// loaded again.
public struct FlowTable: Sendable, Equatable {
    /// By path as users see it.
    public private(set) var files: [String: FlowFile] = [:]
    /// Flow name -> the path of the file serving it.
    public private(set) var owners: [String: String] = [:]

    /// An empty table.
    public init() {}

    /// The table after `batch`, and the paths whose flows or errors changed (in path order).
    ///
    /// Every version offered (those the batch loaded, and those still waiting for a name) is
    /// tried at once: it serves unless a name of it is served by a file that keeps its version,
    /// or wanted by a version ranked before it. The rank: the file already serving the name,
    /// then files in this batch, then by path.
    public func applying(_ batch: ReloadBatch) -> (table: FlowTable, changed: [String]) {
        var files = self.files
        var offers: [String: FlowVersion] = [:]
        for (path, change) in batch.changes {
            switch change {
            case .removed:
                files[path] = nil
            case .same(let signature, let digest):
                files[path]?.seen(signature, digest: digest)
            case .failed(let message, let signature, let digest):
                var file = files[path] ?? FlowFile(path: path)
                file.failed(FileError(file: path, error: message, since: batch.time), signature: signature, digest: digest)
                files[path] = file
            case .loaded(let version, let signature, let digest):
                var file = files[path] ?? FlowFile(path: path)
                file.seen(signature, digest: digest)
                files[path] = file
                offers[path] = version
            }
        }
        for (path, file) in files where offers[path] == nil {
            if let waiting = file.candidate { offers[path] = waiting }
        }

        var resolution = NameResolution(files: files, offers: offers, previousOwners: owners, batch: Set(batch.changes.keys))
        let owners = resolution.resolve()
        for (path, offer) in offers {
            if resolution.accepted.contains(path) {
                files[path]!.loaded(offer.script, flows: offer.flows, signature: files[path]!.signature, digest: files[path]!.digest)
            } else {
                let clash = offer.flows.first { owners[$0.name].map { $0 != path } ?? false }!
                let message = "\(path):\(clash.line): flow '\(clash.name)' is already defined in \(owners[clash.name]!) (flow names are unique in a home: rename one of them)"
                files[path]!.waiting(offer, error: FileError(file: path, error: message, since: batch.time))
            }
        }

        var next = FlowTable()
        next.files = files
        next.owners = owners
        let paths = Set(self.files.keys).union(files.keys)
        return (next, paths.filter { path in files[path].map { !$0.showsTheSame(as: self.files[path]) } ?? true }.sorted())
    }
}

/// Chooses which offered versions serve, so that no two files serve one name.
private struct NameResolution {
    let files: [String: FlowFile]
    let offers: [String: FlowVersion]
    let previousOwners: [String: String]
    let batch: Set<String>
    private(set) var accepted: Set<String>

    init(files: [String: FlowFile], offers: [String: FlowVersion], previousOwners: [String: String], batch: Set<String>) {
        self.files = files
        self.offers = offers
        self.previousOwners = previousOwners
        self.batch = batch
        accepted = Set(offers.keys)
    }

    /// The names a file serves if `accepted` stands.
    private func names(_ path: String) -> [String] {
        (accepted.contains(path) ? offers[path]!.flows : files[path]!.flows).map(\.name)
    }

    private func rank(_ path: String, for name: String) -> (Int, Int, String) {
        (previousOwners[name] == path ? 0 : 1, batch.contains(path) ? 0 : 1, path)
    }

    /// Fixes `accepted` and returns the owner of every name served.
    mutating func resolve() -> [String: String] {
        // Withdraw offers until no name is claimed twice. A file whose offer is withdrawn keeps
        // its serving version, whose names may in turn push out other offers; offers only
        // shrink, so this ends (at worst with no offer accepted: the old table, consistent).
        while true {
            var claims: [String: [String]] = [:]
            for path in files.keys {
                for name in names(path) { claims[name, default: []].append(path) }
            }
            var withdrawn = Set<String>()
            for (name, paths) in claims where paths.count > 1 {
                let movable = paths.filter { accepted.contains($0) }
                if movable.count < paths.count {
                    withdrawn.formUnion(movable)  // a file that keeps its version holds the name
                } else if let best = movable.min(by: { rank($0, for: name) < rank($1, for: name) }) {
                    withdrawn.formUnion(movable.filter { $0 != best })
                }
            }
            if withdrawn.isEmpty { break }
            accepted.subtract(withdrawn)
        }
        var owners: [String: String] = [:]
        for path in files.keys {
            for name in names(path) { owners[name] = path }
        }
        // An offer withdrawn for a name whose winner was withdrawn later may fit after all.
        var retry = true
        while retry {
            retry = false
            let waiting = Set(offers.keys).subtracting(accepted).sorted { (batch.contains($0) ? 0 : 1, $0) < (batch.contains($1) ? 0 : 1, $1) }
            for path in waiting {
                let wanted = offers[path]!.flows.map(\.name)
                guard wanted.allSatisfy({ owners[$0] == nil || owners[$0] == path }) else { continue }
                for name in files[path]!.flows.map(\.name) where owners[name] == path { owners[name] = nil }
                for name in wanted { owners[name] = path }
                accepted.insert(path)
                retry = true
            }
        }
        return owners
    }
}
