// Daemon.swift: `tide serve`: checks the home, takes its lock, and runs the services as one group.
import Foundation
import Synchronization
import Logging
import NIOPosix
import ServiceLifecycle
import TideEngine
import TideProtocol
import TideStore

/// Where a daemon keeps things and how it behaves.
public struct DaemonConfiguration: Sendable {
    public var home: String
    /// The folder of `state.sqlite` (default `HOME/.tide`).
    public var state: String
    /// The control socket (default `HOME/.tide/tide.sock`).
    public var socket: String
    public var keepRuns = 1000
    /// Runs executing at once across flows; more wait in the queue.
    public var maxRunning = 256
    /// How long running runs may go on after a stop request before they are cancelled.
    public var gracePeriod: Duration = .seconds(10)
    /// Use the polling watcher even where inotify works.
    public var polling = false
    /// Connections to the control socket held at once (fewer if the open-file limit is lower).
    public var maxConnections = ControlServer.defaultMaxConnections
    public var version: String
    public var limits = EngineLimits()

    /// A configuration with the defaults of SPEC §1.
    public init(home: String, state: String? = nil, socket: String? = nil, version: String) {
        self.home = home
        self.state = state ?? home + "/.tide"
        self.socket = socket ?? home + "/.tide/tide.sock"
        self.version = version
    }
}

/// A start-up error: what is wrong and what to do.
public struct DaemonError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }

    init(_ message: String) {
        self.message = message
    }
}

/// The daemon: the composition root of its services.
public enum Daemon {
    /// The longest socket path Linux accepts (`sun_path` is 108 bytes with its NUL).
    public static let maxSocketPath = 107

    /// Runs the daemon until SIGTERM, SIGINT or `daemon.shutdown`; throws ``DaemonError`` when
    /// it cannot start.
    public static func run(_ configuration: DaemonConfiguration, logger: Logger) async throws {
        // runs yield the CPU to the control socket and the store when every core is busy
        RunExecutor.lowerRunPriority(by: 5)
        var c = configuration
        c.maxConnections = fitConnections(c.maxConnections, logger: logger)
        let (state, socketFolder) = try checkPaths(c, logger: logger)
        let lock = try DaemonLock(folder: state, home: c.home)
        defer { lock.release() }
        try refuseLiveSocket(c.socket)

        let store: SQLiteStore
        do {
            let database = try StateDatabase.prepare(in: state, logger: logger)
            store = try SQLiteStore(path: database, keepRuns: c.keepRuns)
        } catch let error as DaemonError {
            throw error
        } catch {
            throw DaemonError("\(error) (is \(c.state) writable? choose another folder with --state)")
        }
        guard state.isStillInPlace, socketFolder?.isStillInPlace ?? true else {
            await closeStore(store, logger: logger)
            throw DaemonError("\(c.state) (or the socket's folder) was replaced while tide was starting; start it again, and find out who changes the folder")
        }
        let registry = FlowRegistry(home: c.home, limits: c.limits, logger: logger)
        registry.reload(paths: nil)
        let snapshot = registry.snapshot()
        logger.info("flows loaded", metadata: ["flows": "\(snapshot.flows.count)", "failed files": "\(snapshot.errors.count)"])

        let hub = EventHub()
        let runs = RunManager(registry: registry, store: store, hub: hub, limits: c.limits, gracePeriod: c.gracePeriod, maxRunning: c.maxRunning, logger: logger)
        do {
            try await runs.recover()
        } catch {
            await closeStore(store, logger: logger)
            throw DaemonError("cannot read the run history in \(c.state): \(error)")
        }
        let reloader = ReloadService(registry: registry, polling: c.polling, logger: logger)
        let scheduler: ScheduleService
        do {
            scheduler = try ScheduleService(registry: registry, runs: runs, store: store, logger: logger)
        } catch {
            await closeStore(store, logger: logger)
            throw error
        }
        let stopper = Stopper()
        let info = DaemonInfo(version: c.version, home: c.home, state: c.state, socket: c.socket, startedAt: Date().timeIntervalSince1970)
        let api = ControlAPI(info: info, registry: registry, runs: runs, store: store, hub: hub, reloader: reloader) {
            stopper.stop()
        }
        let server: ControlServer
        do {
            server = try await ControlServer(path: c.socket, api: api, group: .singleton, maxConnections: c.maxConnections, logger: logger)
        } catch {
            await closeStore(store, logger: logger)
            throw DaemonError("cannot listen on \(c.socket): \(error)")
        }
        // Shut down in reverse order: the scheduler first (no new starts), then runs (grace
        // period, then cancel), then the socket, then the watcher; the store closes last, after
        // every run is recorded.
        let group = ServiceGroup(configuration: .init(
            services: [
                .init(service: reloader),
                .init(service: server),
                .init(service: runs),
                .init(service: scheduler),
            ],
            gracefulShutdownSignals: [],  // StopSignals counts them: the group takes only the first
            cancellationSignals: [],
            logger: logger))
        stopper.attach(group)
        let signals = StopSignals(logger: logger, graceful: { stopper.stop() }, atOnce: { await runs.hurry() })
        signals.install()
        defer { signals.remove() }
        logger.info("tide \(c.version) serving", metadata: ["home": "\(c.home)", "socket": "\(c.socket)", "watcher": "\(reloader.watcher.mode.rawValue)"])
        do {
            try await group.run()
        } catch {
            logger.error("stopped on an error: \(error)")
        }
        await closeStore(store, logger: logger)
        logger.info("stopped")
    }

    /// Files the daemon keeps for itself beyond its connections: the store, the watcher, runs'
    /// pipes and http connections.
    static let reservedFiles = 1024

    /// Raises the soft limit on open files to the hard one (a systemd service or a shell often
    /// starts at 1024, too few for thousands of connections), and lowers `wanted` to what then
    /// fits beside ``reservedFiles``.
    static func fitConnections(_ wanted: Int, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return wanted }
        if limit.rlim_cur < limit.rlim_max {
            let soft = limit.rlim_cur
            limit.rlim_cur = limit.rlim_max
            if setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) != 0 {
                logger.notice("could not raise the limit on open files from \(soft): \(String(cString: strerror(errno)))")
                limit.rlim_cur = soft
            }
        }
        let files = limit.rlim_cur == rlim_t.max ? Int.max : Int(clamping: limit.rlim_cur)
        let fitting = max(16, files - reservedFiles)
        guard wanted > fitting else { return wanted }
        logger.warning("the limit on open files (\(files)) leaves room for \(fitting) connections, not \(wanted): serving at most \(fitting) (raise it with ulimit -n or LimitNOFILE=)")
        return fitting
    }

    /// Closes the store; a close that fails (and so leaves the WAL for the next start to
    /// check point) is logged.
    private static func closeStore(_ store: SQLiteStore, logger: Logger) async {
        do {
            try await store.close()
        } catch {
            logger.warning("the state database did not close cleanly: \(error) (its write-ahead log stays, and is applied at the next start)")
        }
    }

    /// Checks the home, the socket path's length, and opens the state folder and (when it is
    /// elsewhere) the socket's folder, which must be the daemon user's own: see ``PrivateFolder``.
    private static func checkPaths(_ c: DaemonConfiguration, logger: Logger) throws -> (state: PrivateFolder, socket: PrivateFolder?) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: c.home, isDirectory: &isFolder), isFolder.boolValue else {
            throw DaemonError("the home \(c.home) is not a folder (create it, with a flows/ folder inside)")
        }
        let length = c.socket.utf8.count
        if length > maxSocketPath {
            throw DaemonError("the socket path is \(length) bytes long, over the limit of \(maxSocketPath) on this system: \(c.socket) (choose a shorter one with --socket, e.g. /run/tide/tide.sock)")
        }
        let state = try PrivateFolder(c.state, role: "the state folder", hint: "choose another with --state")
        if !state.created, let mode = state.looseMode {
            logger.warning("the state folder \(c.state) can be read by other users (mode \(mode)); tide leaves the mode of a folder it did not create alone: chmod 700 \(c.state) to keep the history private")
        }
        let folder = (c.socket as NSString).deletingLastPathComponent
        var socket: PrivateFolder?
        if folder != c.state {
            // the socket may live in a folder root made for it (/run/tide), never one another user can change
            socket = try PrivateFolder(folder, role: "the socket's folder", hint: "choose another socket path with --socket", rootMayOwn: true)
        }
        try makeFlowsFolder(c.home + "/flows")
        return (state, socket)
    }

    private static func makeFlowsFolder(_ path: String) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) {
            guard isFolder.boolValue else { throw DaemonError("\(path) exists but is not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw DaemonError("cannot create the folder \(path): \(error.localizedDescription) (is its parent writable? a link there must point to a folder)")
        }
    }

    /// Refuses to replace the socket of a daemon that answers on it (one with another state
    /// folder: the lock covers the same one).
    private static func refuseLiveSocket(_ path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = ControlServer.address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 {
            throw DaemonError("another tide daemon is already listening on \(path); stop it first, or give this one its own --socket")
        }
    }
}

/// Lets `daemon.shutdown` stop the service group it is part of.
final class Stopper: Sendable {
    private let group = Mutex<ServiceGroup?>(nil)

    func attach(_ serviceGroup: ServiceGroup) {
        group.withLock { $0 = serviceGroup }
    }

    func stop() {
        guard let serviceGroup = group.withLock({ $0 }) else { return }
        Task { await serviceGroup.triggerGracefulShutdown() }  // the composition root's one detached hop
    }
}
