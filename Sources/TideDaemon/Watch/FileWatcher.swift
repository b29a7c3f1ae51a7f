// FileWatcher.swift: reports changed files under flows/ and plugins/ (inotify, or polling as a fallback).
import Foundation
import Logging
import Synchronization

/// A debounced batch of changes.
public struct WatchChange: Sendable, Equatable {
    /// Changed, created or deleted `*.lua` files under `flows/` (absolute paths).
    public var flows: Set<String> = []
    /// Something under `plugins/` (or `plugins.json`) changed: plugins are validated and every
    /// flow is loaded again.
    public var plugins = false
    /// Events were lost (queue overflow) or a watched root appeared: rescan everything.
    public var rescan = false

    /// A batch.
    public init(flows: Set<String> = [], plugins: Bool = false, rescan: Bool = false) {
        self.flows = flows
        self.plugins = plugins
        self.rescan = rescan
    }

    public var isEmpty: Bool { flows.isEmpty && !plugins && !rescan }
}

/// Watches a home's `flows/` and `plugins/` recursively, and its `plugins.json`, and calls
/// `onChange` with debounced batches.
///
/// On Linux it uses inotify: new sub-folders are watched as they appear, editors' saves that
/// write a temporary file and rename it over the original arrive as `IN_MOVED_TO`, and a burst
/// of events is delivered as one batch once the folder has been quiet for `debounce` (and at
/// the latest `maxDelay` after the first event). Where inotify is unavailable (or `polling` is
/// asked for) it compares file signatures every `pollInterval`.
public final class FileWatcher: Sendable {
    /// How changes are noticed.
    public enum Mode: String, Sendable {
        case inotify, polling
    }

    private let home: String
    private let roots: [String]
    private let onChange: @Sendable (WatchChange) -> Void
    private let logger: Logger
    private let debounce: Double
    private let maxDelay: Double
    private let pollInterval: Double
    private let stopPipe: (read: Int32, write: Int32)
    private let modeBox = Mutex(Mode.inotify)

    /// Creates a watcher; call ``start(polling:)``.
    public init(home: String, debounce: Double = 0.025, maxDelay: Double = 0.08, pollInterval: Double = 0.1,
                logger: Logger, onChange: @escaping @Sendable (WatchChange) -> Void) {
        self.home = home
        self.roots = [home + "/flows", home + "/plugins"]
        self.debounce = debounce
        self.maxDelay = maxDelay
        self.pollInterval = pollInterval
        self.logger = logger
        self.onChange = onChange
        var fds: [Int32] = [-1, -1]
        _ = pipe(&fds)
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        stopPipe = (fds[0], fds[1])
    }

    /// The mode in use.
    public var mode: Mode { modeBox.withLock { $0 } }

    /// Starts watching on a thread of its own.
    public func start(polling: Bool = false) {
        let fd = polling ? -1 : inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if fd < 0 {
            if !polling {
                logger.warning("inotify is unavailable (\(String(cString: strerror(errno)))): polling for changes every \(Int(pollInterval * 1000)) ms")
            }
            modeBox.withLock { $0 = .polling }
        }
        // the watches exist when start returns: no change after it is missed
        nonisolated(unsafe) var loop = fd >= 0 ? InotifyLoop(watcher: self, fd: fd) : nil
        loop?.setUp()
        let thread = Thread { [self] in
            if loop != nil {
                loop!.run()
            } else {
                pollLoop()
            }
        }
        thread.name = "tide-watcher"
        thread.start()
    }

    /// Stops the thread.
    public func stop() {
        var byte: UInt8 = 1
        _ = write(stopPipe.write, &byte, 1)
    }

    fileprivate var stopFD: Int32 { stopPipe.read }
    fileprivate var watchedRoots: [String] { roots }
    fileprivate var homeFolder: String { home }
    /// The plugins' settings, `HOME/plugins.json`.
    fileprivate var settingsFile: String { home + "/plugins.json" }
    fileprivate var timing: (debounce: Double, maxDelay: Double) { (debounce, maxDelay) }
    fileprivate var log: Logger { logger }
    fileprivate func deliver(_ change: WatchChange) {
        if !change.isEmpty { onChange(change) }
    }

    /// Classifies a path: a flow script, something under plugins/ or the plugins' settings, or neither.
    fileprivate func note(_ path: String, into change: inout WatchChange) {
        if path.hasPrefix(roots[1] + "/") || path == roots[1] || path == settingsFile {
            change.plugins = true
        } else if path.hasSuffix(".lua"), path.hasPrefix(roots[0] + "/") {
            change.flows.insert(path)
        }
    }

    // MARK: - Polling

    private func pollLoop() {
        var known = scan()
        while true {
            var fds = [pollfd(fd: stopPipe.read, events: Int16(POLLIN), revents: 0)]
            if poll(&fds, 1, Int32(pollInterval * 1000)) > 0 { return }
            let now = scan()
            var change = WatchChange()
            for (path, signature) in now where known[path] != signature { note(path, into: &change) }
            for path in known.keys where now[path] == nil { note(path, into: &change) }
            if now.contains(where: { $0.value == Self.unreadableName && known[$0.key] == nil })
                || known.contains(where: { $0.value == Self.unreadableName && now[$0.key] == nil }) {
                change.rescan = true
            }
            known = now
            deliver(change)
        }
    }

    private func scan() -> [String: FileSignature] {
        var out: [String: FileSignature] = [:]
        // a flows/ that is a symbolic link is walked where it points; names that are not UTF-8
        // count as changes of their own (the rescan they cause reports them)
        for entry in FlowFolder.scripts(in: roots[0], shownAs: roots[0]) {
            guard let path = entry.absolute else {
                out[entry.path] = Self.unreadableName
                continue
            }
            if let signature = FlowRegistry.signature(path) { out[path] = signature }
        }
        let plugins = URL(fileURLWithPath: roots[1]).resolvingSymlinksInPath().path
        if let walker = FileManager.default.enumerator(atPath: plugins) {
            while let item = walker.nextObject() as? String {
                let path = roots[1] + "/" + item
                if let signature = FlowRegistry.signature(path) { out[path] = signature }
            }
        }
        if let signature = FlowRegistry.signature(settingsFile) { out[settingsFile] = signature }
        return out
    }

    /// The signature of a script whose name is not UTF-8 (it cannot be opened by that name).
    private static let unreadableName = FileSignature(size: -1, modified: 0, inode: 0)
}

/// The inotify side of ``FileWatcher``: one watch per folder, a map back to paths, debouncing.
private struct InotifyLoop {
    let watcher: FileWatcher
    let fd: Int32
    var folders: [Int32: String] = [:]
    var homeWatch: Int32 = -1

    init(watcher: FileWatcher, fd: Int32) {
        self.watcher = watcher
        self.fd = fd
    }

    private static let folderMask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_ATTRIB)

    /// Watches `folder` and every folder below it, following symbolic links, and notes the
    /// files found into `change` (they may have been written before the watch existed); a name
    /// that is not UTF-8 asks for a rescan, which reports it.
    mutating func watchTree(_ folder: String, into change: inout WatchChange) {
        var walked = Set<Int32>()
        watchTree(folder, walked: &walked, into: &change)
    }

    private mutating func watchTree(_ folder: String, walked: inout Set<Int32>, into change: inout WatchChange) {
        let wd = inotify_add_watch(fd, folder, Self.folderMask | UInt32(IN_ONLYDIR))
        // a folder already walked (a link back up the tree) has the same watch: not again
        guard wd >= 0, walked.insert(wd).inserted else { return }
        folders[wd] = folder
        for child in FlowFolder.children(of: Array(folder.utf8)) {
            guard let name = String(validating: child.name, as: UTF8.self) else {
                change.rescan = true
                continue
            }
            let path = folder + "/" + name
            if child.isFolder {
                watchTree(path, walked: &walked, into: &change)
            } else {
                watcher.note(path, into: &change)
            }
        }
    }

    /// Drops the watches of `root` and the folders below it.
    private mutating func unwatch(under root: String) {
        for (wd, folder) in folders where folder == root || folder.hasPrefix(root + "/") {
            inotify_rm_watch(fd, wd)
            folders[wd] = nil
        }
    }

    mutating func setUp() {
        // the roots appearing, and plugins.json written, replaced or removed
        homeWatch = inotify_add_watch(fd, watcher.homeFolder, UInt32(IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_ONLYDIR))
        var found = WatchChange()  // the start-up scan reads them
        for root in watcher.watchedRoots { watchTree(root, into: &found) }
    }

    mutating func run() {
        defer { close(fd) }
        let (debounce, maxDelay) = watcher.timing
        var pending = WatchChange()
        var firstEvent: Double = 0
        var lastEvent: Double = 0
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64 << 10, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            var timeout: Int32 = -1
            if !pending.isEmpty {
                let now = monotonicSeconds()
                let due = min(lastEvent + debounce, firstEvent + maxDelay)
                timeout = max(0, Int32(((due - now) * 1000).rounded(.up)))
            }
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: watcher.stopFD, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, timeout)
            if ready < 0 && errno != EINTR { return }
            if fds[1].revents != 0 { return }
            if fds[0].revents != 0 {
                let count = read(fd, buffer, 64 << 10)
                if count > 0 {
                    let now = monotonicSeconds()
                    if pending.isEmpty { firstEvent = now }
                    lastEvent = now
                    parse(buffer, count, into: &pending)
                }
                continue
            }
            if !pending.isEmpty {
                watcher.deliver(pending)
                pending = WatchChange()
            }
        }
    }

    private mutating func parse(_ buffer: UnsafeMutableRawPointer, _ count: Int, into change: inout WatchChange) {
        var offset = 0
        let header = MemoryLayout<inotify_event>.size
        while offset + header <= count {
            let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
            let nameLength = Int(event.len)
            var name = ""
            var validName = true
            if nameLength > 0 {
                let start = buffer.advanced(by: offset + header).assumingMemoryBound(to: CChar.self)
                if let valid = String(validatingCString: start) {
                    name = valid
                } else {
                    name = String(cString: start)
                    validName = false
                }
            }
            offset += header + nameLength
            let mask = event.mask
            if mask & UInt32(IN_Q_OVERFLOW) != 0 {
                change.rescan = true
                continue
            }
            if event.wd == homeWatch {
                let path = watcher.homeFolder + "/" + name
                if path == watcher.settingsFile {
                    watcher.note(path, into: &change)
                } else if watcher.watchedRoots.contains(path), mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                    watchTree(path, into: &change)
                    change.rescan = true
                } else if watcher.watchedRoots.contains(path), mask & UInt32(IN_MOVED_FROM | IN_DELETE) != 0 {
                    // the root was moved away or was a link that is gone: the folders watched
                    // under its name are no longer it (their events would come as its files)
                    unwatch(under: path)
                    change.rescan = true
                }
                continue
            }
            if mask & UInt32(IN_IGNORED) != 0 {
                folders[event.wd] = nil
                continue
            }
            guard let folder = folders[event.wd], !name.hasPrefix(".") else { continue }
            guard validName else {
                change.rescan = true  // a name that is not UTF-8: the rescan lists it as an error
                continue
            }
            let path = folder + "/" + name
            if mask & UInt32(IN_ISDIR) != 0 {
                if mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 {
                    watchTree(path, into: &change)
                } else if mask & UInt32(IN_MOVED_FROM | IN_DELETE) != 0 {
                    change.rescan = true  // a folder of scripts went away
                }
                watcher.note(path, into: &change)
                continue
            }
            watcher.note(path, into: &change)
        }
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
