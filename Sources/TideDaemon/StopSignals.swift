// StopSignals.swift: SIGTERM and SIGINT stop the daemon gracefully; a second one stops it now.
import Dispatch
import Foundation
import Logging
import Synchronization
import TideEngine

/// The daemon's stop signals, counted across SIGTERM and SIGINT (Ctrl-C):
/// 1. graceful: no new runs, running ones get the grace period (the service group shuts down);
/// 2. at once: no grace, the commands still running are killed, runs are cancelled with their
///    cleanup cut short, and the daemon exits as soon as they are recorded (at the latest 10 s
///    later, without recording them: the next start marks them interrupted);
/// 3. now: the commands still running are killed and the process exits with 130.
///
/// ServiceGroup's own signal handling takes the first signal only and ignores the rest, so the
/// daemon counts them here and asks the group and the run manager.
final class StopSignals: @unchecked Sendable {  // `sources`: set by install, read by remove, both on the daemon's task
    private let count = Atomic<Int>(0)
    private var sources: [DispatchSourceSignal] = []
    private let logger: Logger
    private let graceful: @Sendable () -> Void
    private let atOnce: @Sendable () async -> Void

    init(logger: Logger, graceful: @escaping @Sendable () -> Void, atOnce: @escaping @Sendable () async -> Void) {
        self.logger = logger
        self.graceful = graceful
        self.atOnce = atOnce
    }

    func install() {
        sources = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { [self, source] in
                // two signals can arrive as one event (data counts them)
                for _ in 0..<max(1, source.data) { received(number) }
            }
            source.resume()
            return source
        }
    }

    func remove() {
        sources.forEach { $0.cancel() }
        sources = []
    }

    private func received(_ number: Int32) {
        let name = number == SIGINT ? "SIGINT" : "SIGTERM"
        switch count.add(1, ordering: .relaxed).newValue {
        case 1:
            logger.info("stopping (\(name)); a second signal stops at once")
            graceful()
        case 2:
            logger.warning("stopping at once (\(name) again): cancelling running runs without grace")
            let atOnce = self.atOnce
            Task { await atOnce() }  // the composition root's hop onto the run manager
            Thread.detachNewThread { [logger] in
                Thread.sleep(forTimeInterval: 10)
                logger.error("runs still not recorded 10 s after the second signal; killing their commands and exiting")
                LiveProcesses.killAll()
                _exit(130)
            }
        default:
            LiveProcesses.killAll()
            _exit(130)
        }
    }
}
