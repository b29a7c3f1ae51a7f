// ReloadService.swift: the watcher's batches, SIGHUP and `tide reload`, applied to the registry one at a time.
import Foundation
import Logging
import ServiceLifecycle
import TideEngine
import TideProtocol
import UnixSignals

/// Keeps the registry in step with the files: inotify (or polling) batches reload the files that
/// changed, a change under `plugins/` (or to `plugins.json`) validates the plugins and reloads
/// every flow, and SIGHUP or ``reloadAll()`` rescans everything. Reloads run one at a time, on a thread of their own (a load may take up to 2 s).
public final class ReloadService: Service {
    private enum Job: Sendable {
        case change(WatchChange)
        case full(CheckedContinuation<[String], Never>?)
    }

    private let registry: FlowRegistry
    private let logger: Logger
    private let polling: Bool
    private let jobs: AsyncStream<Job>
    private let submit: AsyncStream<Job>.Continuation
    /// The watcher in use.
    public let watcher: FileWatcher

    /// Creates the service; `polling` forces the polling fallback.
    public init(registry: FlowRegistry, polling: Bool = false, logger: Logger) {
        self.registry = registry
        self.logger = logger
        self.polling = polling
        (jobs, submit) = AsyncStream.makeStream(of: Job.self)
        let submit = self.submit
        watcher = FileWatcher(home: registry.home, logger: logger) { change in submit.yield(.change(change)) }
    }

    public func run() async throws {
        watcher.start(polling: polling)
        defer { watcher.stop() }
        // what changed between the start-up scan and the watches
        submit.yield(.change(WatchChange(rescan: true)))
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await withDiscardingTaskGroup { group in
            group.addTask { [submit, logger] in
                for await _ in hangups.cancelOnGracefulShutdown() {
                    logger.info("SIGHUP: rescanning flows and plugins")
                    submit.yield(.full(nil))
                }
            }
            for await job in jobs.cancelOnGracefulShutdown() {
                switch job {
                case .change(let change):
                    let full = change.rescan || change.plugins
                    _ = await onThread { [registry] in
                        RunExecutor.lowerCurrentThreadToRunPriority()  // loads run user code, as runs do
                        return registry.reload(paths: full ? nil : change.flows, force: change.plugins)
                    }
                case .full(let done):
                    let changed = await onThread { [registry] in
                        RunExecutor.lowerCurrentThreadToRunPriority()
                        return registry.reload(paths: nil, force: true)
                    }
                    done?.resume(returning: changed)
                }
            }
            group.cancelAll()
        }
    }

    /// Rescans every file (as `tide reload` and SIGHUP do); returns the files that changed.
    public func reloadAll() async -> [String] {
        await withCheckedContinuation { submit.yield(.full($0)) }
    }
}

/// Runs blocking work on a thread of its own (not on the cooperative pool).
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: body()) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
