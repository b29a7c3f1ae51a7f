// RunExecutor.swift: runs a flow: Lua on a dedicated thread, subprocesses as child tasks.
import Foundation
import LuaBridge
import Synchronization
import TideProtocol

/// Executes runs. Each run gets a thread for its Lua state (runs execute in parallel on all
/// cores) and a task group that owns its subprocesses; cancelling the calling task cancels the run.
public enum RunExecutor {
    /// Process-wide set-up for running flows; call first thing in `main`, before threads exist.
    public static func configureProcess() {
        luaConfigureProcess()
    }

    /// Runs' Lua threads run `increment` nice steps below the process's other threads (the
    /// daemon: its control plane stays responsive while runs saturate the CPU). Threads made
    /// after the call get it.
    public static func lowerRunPriority(by increment: Int32) {
        RunThreadPool.niceness.store(max(0, increment), ordering: .relaxed)
    }

    /// Gives the calling thread the run threads' lower priority (``lowerRunPriority(by:)``): for
    /// threads that load user code, such as a daemon's reloads (flow scripts' top levels and
    /// plugins, which may loop until the load limit stops them).
    public static func lowerCurrentThreadToRunPriority() {
        let increment = RunThreadPool.niceness.load(ordering: .relaxed)
        if increment > 0 { luaLowerThreadPriority(increment) }
    }

    /// Returns memory freed by finished runs and loads to the system; for a daemon going idle.
    public static func releaseFreeMemory() {
        luaReleaseFreeMemory()
    }

    /// Runs `request` to its end and returns the outcome; never throws: failures are outcomes.
    ///
    /// With a ``ManualClock``, time is virtual: whenever no task is ready the clock jumps to the
    /// next deadline (for tests of time logic). When the calling task is cancelled, the run is
    /// cancelled with `cancellationReason` in its error message.
    public static func execute(
        _ request: RunRequest, limits: EngineLimits = EngineLimits(), observer: RunObserver = NullObserver(),
        clock: EngineClock = SystemClock(), cancellation: RunCancellation? = nil,
        cancellationReason: String = "its caller was cancelled"
    ) async -> RunOutcome {
        let mailbox = Mailbox()
        cancellation?.attach(mailbox)
        // The run is shielded from the caller's cancellation, which reaches it only as a message:
        // the scheduler then cancels its tasks, and cleanup (compensations that run commands)
        // still runs. The task is awaited right here, so it never outlives this call.
        let run = Task { await shielded(request, limits: limits, observer: observer, clock: clock, mailbox: mailbox) }
        return await withTaskCancellationHandler {
            await run.value
        } onCancel: {
            mailbox.cancel(reason: cancellationReason)
        }
    }

    private static func shielded(
        _ request: RunRequest, limits: EngineLimits, observer: RunObserver, clock: EngineClock, mailbox: Mailbox
    ) async -> RunOutcome {
        let (jobs, continuation) = AsyncStream.makeStream(of: ProcessJob.self)
        let launcher = AsyncLauncher(continuation)
        let result = OutcomeBox()
        let virtualTime = clock is ManualClock
        await withDiscardingTaskGroup { group in
            group.addTask {
                let outcome = await onThread {
                    RunDriver(request: request, limits: limits, observer: observer, mailbox: mailbox, launcher: launcher,
                              clock: clock, virtualTime: virtualTime).run()
                }
                result.set(outcome)
                continuation.finish()
            }
            for await job in jobs {
                group.addTask { await perform(job, mailbox: mailbox, observer: observer) }
            }
        }
        return result.get()
    }

    /// Runs one subprocess until it exits or its token fires (then cancels it: the process group
    /// gets SIGTERM, and SIGKILL after 2 s).
    private static func perform(_ job: ProcessJob, mailbox: Mailbox, observer: RunObserver) async {
        guard !job.token.hasFired else { return }  // cancelled before it started: never spawn it
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                let result = await ProcessRunner.run(job.request, observer: observer) { pid in
                    job.group.set(pid)
                    LiveProcesses.started(pid)  // listed until its group is gone (see below)
                }
                mailbox.post(.processFinished(id: job.id, result: result))
                job.token.fire()
            }
            group.addTask { await job.token.wait() }
            await group.next()
            group.cancelAll()
        }
        let pgid = job.group.value
        // Only a cancel that won against the process's own end sweeps: the group is then still
        // tide's (its leader was running when cancelled).
        if job.token.wasCancelled { await terminateGroup(pgid) }
        if pgid > 0 { LiveProcesses.finished(pgid) }
    }

    /// After a cancelled command's leader is gone, what is left of its process group (children
    /// that ignored SIGTERM) gets SIGTERM, then SIGKILL after 2 s. swift-subprocess stops its
    /// teardown as soon as the leader exits, so this finishes the job for the whole group.
    private static func terminateGroup(_ pgid: pid_t) async {
        guard pgid > 0, kill(-pgid, 0) == 0 else { return }
        kill(-pgid, SIGTERM)
        for _ in 0..<40 {
            try? await Task.sleep(for: .milliseconds(50))
            if kill(-pgid, 0) != 0 { return }
        }
        kill(-pgid, SIGKILL)
    }

    /// Runs `body` on a run thread (large stack, see ``RunThreadPool``) and returns its result.
    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            RunThreadPool.shared.run { continuation.resume(returning: body()) }
        }
    }
}

/// Carries the outcome out of the run's child task.
private final class OutcomeBox: Sendable {
    private let value = Mutex<RunOutcome?>(nil)
    func set(_ outcome: RunOutcome) { value.withLock { $0 = outcome } }
    func get() -> RunOutcome { value.withLock { $0! } }
}
