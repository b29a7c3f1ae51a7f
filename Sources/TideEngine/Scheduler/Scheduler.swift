// Scheduler.swift: drives every coroutine of one run from a single resume site.
import DequeModule
import HeapModule
import LuaBridge
import TideProtocol

/// How the top-level task of a run phase ended.
enum TopLevelOutcome: Equatable {
    /// It returned these strings (the prelude's protocol: status, then JSON).
    case returned([String])
    /// It raised; the error rendered as text.
    case failed(String)
    /// It was cancelled (run timeout or cancellation).
    case cancelled
}

/// The engine of one run: tasks, groups, timers and the resume loop, on one thread.
///
/// Host functions never resume anything: they record what the task waits for and yield. The
/// scheduler's `resume(_:)` is the only place that resumes coroutines, and closing (cancellation)
/// happens only there or between passes, never inside a host call.
final class Scheduler: LuaHost {
    private(set) var vm: LuaVM!
    let clock: EngineClock
    let recorder: RunRecorder
    weak var launcher: ProcessLauncher?
    /// Starts the run's http calls.
    var http: HTTPLauncher?
    /// Bytes kept of each subprocess output stream.
    var captureLimit = 1 << 20
    /// The key-value store of `kv.*`, and the flow its keys belong to.
    var keyValues: (store: KeyValueStore, flow: String)?

    var tasks: [TaskRecord] = []
    var freeTasks: [Int32] = []
    var groups: [GroupRecord] = []
    var freeGroups: [Int32] = []
    var ready: Deque<(slot: Int32, generation: UInt32)> = []
    var timers: Heap<TimerEntry> = []
    var timerSequence: UInt64 = 0
    var processResults: [Int32: ProcessResult] = [:]
    var httpOutcomes: [Int32: HTTPOutcome] = [:]
    var releases: [Int32] = []
    /// The slot of the task being resumed, -1 between resumes.
    var current: Int32 = -1
    /// The top-level task of the current phase (run, then cleanup).
    var topLevel: Int32 = -1
    var outcome: TopLevelOutcome?
    var allowTopLevelSpawn = false
    /// The owners of pending subprocesses and http calls, by id.
    var processes: [Int: (slot: Int32, generation: UInt32)] = [:]
    var nextProcess = 1
    /// How long `<close>` handlers of a cancelled task may run.
    var closeBudget: UInt64 = 2_000_000_000
    var runDeadline: UInt64 = 0
    var runDeadlineToken: UInt64 = 0
    var runDeadlineMessage = "run timed out"
    private(set) var timedOut = false

    init(memoryLimit: Int, clock: EngineClock, observer: RunObserver) throws(EngineError) {
        self.clock = clock
        self.recorder = RunRecorder(observer: observer, wallClock: clock.wallNow)
        do {
            vm = try LuaVM(memoryLimit: memoryLimit, host: self)
            for function in HostFunction.allCases {
                if function == .spawn {
                    try vm.registerSpawn(function.luaName, id: function.rawValue)
                } else {
                    try vm.register(function.luaName, id: function.rawValue)
                }
            }
        } catch {
            throw EngineError(.internal, "could not create the flow's Lua state: \(error.message)")
        }
    }

    deinit {
        vm?.detach()
    }

    // MARK: - Slots

    func allocateTask() -> Int32 {
        if let slot = freeTasks.popLast() { return slot }
        tasks.append(TaskRecord())
        return Int32(tasks.count - 1)
    }

    func freeTask(_ slot: Int32) {
        let generation = tasks[Int(slot)].generation &+ 1
        tasks[Int(slot)] = TaskRecord()
        tasks[Int(slot)].generation = generation
        processResults[slot] = nil
        if !httpOutcomes.isEmpty { httpOutcomes[slot] = nil }
        freeTasks.append(slot)
    }

    func allocateGroup() -> Int32 {
        if let gid = freeGroups.popLast() { return gid }
        groups.append(GroupRecord())
        return Int32(groups.count - 1)
    }

    func freeGroup(_ gid: Int32) {
        groups[Int(gid)] = GroupRecord()
        freeGroups.append(gid)
    }

    /// The slot of the task whose coroutine is `id`, if it is the one running now.
    func runningSlot(id: Int64) -> Int32? {
        guard id != 0, current >= 0 else { return nil }
        let slot = Int32(truncatingIfNeeded: (id & 0xffff_ffff) - 1)
        guard slot == current, UInt32(truncatingIfNeeded: id >> 32) == tasks[Int(slot)].generation else { return nil }
        return slot
    }

    // MARK: - Readiness and timers

    func makeReady(_ slot: Int32, _ wake: TaskWake) {
        tasks[Int(slot)].state = .ready
        // A group owner woken by a completion keeps its deadline entry: its next wait on the same
        // group reuses it (the entry can only have been dropped once that deadline has passed).
        if wake != .completion { tasks[Int(slot)].timerToken = 0 }
        ready.append((slot, tasks[Int(slot)].generation))
    }

    func armTimer(_ slot: Int32, at deadline: UInt64) {
        timerSequence += 1
        tasks[Int(slot)].timerToken = timerSequence
        timers.insert(TimerEntry(deadline: deadline, sequence: timerSequence, slot: slot, generation: tasks[Int(slot)].generation, kind: .task))
    }

    /// Sets the deadline of the current phase; past it the top-level task is cancelled and runaway
    /// code that cannot yield is stopped with `message`.
    func setDeadline(_ deadline: UInt64, message: String) {
        runDeadline = deadline
        runDeadlineMessage = message
        timerSequence += 1
        runDeadlineToken = timerSequence
        if deadline > 0 {
            timers.insert(TimerEntry(deadline: deadline, sequence: timerSequence, slot: -1, generation: 0, kind: .runDeadline))
        }
        vm.preemption.setDeadline(realDeadline(deadline), message: message)
    }

    /// `deadline` on the run's clock as an instant of the real monotonic clock, which the hook
    /// compares with (runaway code is stopped in real time, even in virtual-time tests).
    func realDeadline(_ deadline: UInt64) -> UInt64 {
        guard deadline > 0 else { return 0 }
        let now = clock.now(), real = luaMonotonicNow()
        return deadline > now ? real &+ (deadline - now) : real
    }

    /// The earliest pending deadline (stale entries are dropped on the way).
    func nextDeadline() -> UInt64? {
        while let top = timers.min {
            if isLive(top) { return top.deadline }
            _ = timers.removeMin()
        }
        return nil
    }

    private func isLive(_ entry: TimerEntry) -> Bool {
        switch entry.kind {
        case .runDeadline:
            return entry.sequence == runDeadlineToken
        case .task:
            return tasks[Int(entry.slot)].timerToken == entry.sequence && tasks[Int(entry.slot)].generation == entry.generation
        }
    }

    private func fireTimers(now: UInt64) {
        while let top = timers.min, top.deadline <= now {
            let entry = timers.removeMin()
            guard isLive(entry) else { continue }
            switch entry.kind {
            case .runDeadline:
                timedOut = true
                cancelTopLevel()
            case .task:
                if tasks[Int(entry.slot)].state == .waiting { makeReady(entry.slot, .timer) }
            }
        }
    }

    /// Whether tasks are ready to run now.
    var hasReadyTasks: Bool { !ready.isEmpty }

    // MARK: - The pass and the resume site

    /// Fires due timers, then runs the tasks that were ready when the pass began (so a task that is
    /// preempted or yields goes after every timer that came due meanwhile).
    func runPass() {
        fireTimers(now: clock.now())
        var budget = ready.count
        while budget > 0, let entry = ready.popFirst() {
            budget -= 1
            let task = tasks[Int(entry.slot)]
            guard task.generation == entry.generation, task.state == .ready else { continue }
            resume(entry.slot)
        }
        flushReleases()
    }

    /// The only place a coroutine is resumed.
    private func resume(_ slot: Int32) {
        var arguments = tasks[Int(slot)].initialArguments
        tasks[Int(slot)].initialArguments = 0
        while true {
            guard let thread = tasks[Int(slot)].thread else { return }
            tasks[Int(slot)].state = .running
            current = slot
            let result = vm.resume(thread, arguments: arguments)
            current = -1
            arguments = 0
            switch result.status {
            case .yield:
                if result.results > 0 { thread.settop(thread.top - result.results) }
                switch tasks[Int(slot)].wait {
                case .none:
                    makeReady(slot, .none)  // preempted, or a bare coroutine.yield()
                case .cancel(let gid):
                    tasks[Int(slot)].wait = .none
                    cancelGroup(gid)
                    continue  // the canceller goes on at once: its losers are closed
                default:
                    tasks[Int(slot)].state = .waiting
                }
            case .ok:
                finished(slot, ok: true, results: result.results)
            default:
                // A raising coroutine keeps its <close> variables open: close them now, keeping
                // the error value (or a close handler's newer error) on top.
                if closeThread(thread, keepingError: true) { thread.pushNil() }
                finished(slot, ok: false, results: 1)
            }
            return
        }
    }

    private func finished(_ slot: Int32, ok: Bool, results: Int32) {
        // Groups left open by an error that escaped the prelude: their members go too.
        for gid in tasks[Int(slot)].ownedGroups.reversed() { abandonGroup(gid) }
        tasks[Int(slot)].ownedGroups = []
        for node in tasks[Int(slot)].nodes.reversed() { recorder.finish(node, ok ? .succeeded : .failed) }
        tasks[Int(slot)].nodes = []
        let gid = tasks[Int(slot)].group
        if slot == topLevel {
            topLevelFinished(slot, ok: ok, results: results)
            return
        }
        tasks[Int(slot)].state = .done(ok: ok, results: results)
        guard gid >= 0 else { return }
        groups[Int(gid)].completed.append(slot)
        if groups[Int(gid)].ownerWaiting {
            groups[Int(gid)].ownerWaiting = false
            let owner = groups[Int(gid)].owner
            if tasks[Int(owner)].state == .waiting { makeReady(owner, .completion) }
        }
    }

    private func topLevelFinished(_ slot: Int32, ok: Bool, results: Int32) {
        guard let thread = tasks[Int(slot)].thread else { return }
        if ok {
            var values: [String] = []
            let top = thread.top
            for i in stride(from: top - results + 1, through: top, by: 1) {
                values.append(thread.string(at: i) ?? "")
            }
            outcome = .returned(values)
        } else {
            outcome = .failed(thread.describe(at: -1))
        }
        thread.settop(0)
        releases.append(tasks[Int(slot)].ref)
        freeTask(slot)
        topLevel = -1
    }

    func flushReleases() {
        guard !releases.isEmpty else { return }
        vm.release(releases)
        releases.removeAll(keepingCapacity: true)
    }

    // MARK: - Phases

    /// Runs global function `function(argument)` on the main thread; it spawns the phase's
    /// top-level task (the run, or its cleanup).
    func startTopLevel(_ function: String, argument: String) throws(EngineError) {
        outcome = nil
        allowTopLevelSpawn = true
        defer { allowTopLevelSpawn = false }
        do {
            try vm.call(function, argument: argument, results: 0)
        } catch {
            throw EngineError(.internal, "starting \(function): \(error.message)")
        }
        guard topLevel >= 0 else { throw EngineError(.internal, "\(function) did not start a task") }
    }

    /// Records that the phase ended by its deadline (the hook stopped code that could not yield).
    func markTimedOut() {
        timedOut = true
        outcome = .cancelled
    }

    /// Records that the phase ended by cancellation (the hook stopped code that could not yield).
    func markCancelled() {
        outcome = .cancelled
    }

    /// Prepares for the next phase (cleanup).
    func resetPhase() {
        timedOut = false
        outcome = nil
    }

    /// Cancels the phase's top-level task and everything under it.
    func cancelTopLevel() {
        guard topLevel >= 0 else { return }
        let slot = topLevel
        cancelTask(slot)
        topLevel = -1
        outcome = .cancelled
        flushReleases()
    }

    /// Delivers a subprocess result that arrived through the mailbox.
    func processFinished(id: Int, result: ProcessResult) {
        guard let owner = processes.removeValue(forKey: id) else { return }
        let slot = owner.slot
        guard tasks[Int(slot)].generation == owner.generation, tasks[Int(slot)].state == .waiting,
            tasks[Int(slot)].io == id
        else { return }
        processResults[slot] = result
        tasks[Int(slot)].io = 0
        makeReady(slot, .io)
    }

    // MARK: - Cancellation (only between resumes)

    /// Cancels a group its owner left open and frees it. A hidden group (timeout, step attempt)
    /// shares its owner's node, which is not the group's to finish.
    private func abandonGroup(_ gid: Int32) {
        cancelGroup(gid)
        if !groups[Int(gid)].hidden { recorder.finish(groups[Int(gid)].node, .cancelled) }
        freeGroup(gid)
    }

    /// Cancels every member of a group that has not been delivered; delivered ones are gone already.
    func cancelGroup(_ gid: Int32) {
        guard groups.indices.contains(Int(gid)), groups[Int(gid)].active else { return }
        let members = groups[Int(gid)].members
        groups[Int(gid)].members = []
        groups[Int(gid)].completed = []
        groups[Int(gid)].live = 0
        groups[Int(gid)].ownerWaiting = false
        for member in members.reversed() {
            let slot = Int32(truncatingIfNeeded: member & 0xffff_ffff) - 1
            let generation = UInt32(truncatingIfNeeded: member >> 32)
            guard tasks[Int(slot)].generation == generation, tasks[Int(slot)].group == gid else { continue }
            cancelTask(slot)
        }
    }

    /// Cancels a task: its groups first (depth first), then its records, timers and subprocess,
    /// then its coroutine is closed so pending `<close>` variables run.
    func cancelTask(_ slot: Int32) {
        let task = tasks[Int(slot)]
        switch task.state {
        case .free:
            return
        case .done:
            if let thread = task.thread { thread.settop(0) }
            releases.append(task.ref)
            freeTask(slot)
            return
        case .ready, .running, .waiting:
            break
        }
        for gid in task.ownedGroups.reversed() { abandonGroup(gid) }
        for node in task.nodes.reversed() { recorder.finish(node, .cancelled) }
        if task.branchNode > 0 { recorder.finish(task.branchNode, .cancelled) }
        if task.io != 0 {
            processes[task.io] = nil
            if case .http = task.wait { http?.cancel(id: task.io) } else { launcher?.cancel(id: task.io) }
        }
        if let thread = task.thread {
            if !closeThread(thread, keepingError: false) {
                recorder.log(.warn, "a <close> handler failed during cancellation: \(thread.describe(at: -1))", node: 0)
            }
            thread.settop(0)
        }
        releases.append(task.ref)
        freeTask(slot)
    }

    /// Runs the pending `<close>` handlers of a coroutine (cancelled, or dead by an error) within
    /// the close budget; returns whether they all ran without raising. With `keepingError`, the
    /// coroutine's error value (or a close handler's newer one) stays on its stack top.
    @discardableResult
    private func closeThread(_ thread: LuaThread, keepingError: Bool) -> Bool {
        let now = clock.now()
        let budgetDeadline = now &+ closeBudget
        // Within the run's deadline when it is ahead; past it (the run timed out), the full budget.
        let deadline = runDeadline > now ? min(runDeadline, budgetDeadline) : budgetDeadline
        vm.preemption.setDeadline(realDeadline(deadline), message: "a <close> handler ran past its deadline")
        let status = vm.close(thread)
        vm.preemption.setDeadline(realDeadline(runDeadline), message: runDeadlineMessage)
        return status == .ok
    }
}

/// Seconds as nanoseconds, saturating instead of trapping on huge or negative values.
func nanoseconds(_ seconds: Double) -> UInt64 {
    guard seconds > 0 else { return 0 }
    guard seconds < 1e10 else { return 10_000_000_000 * 1_000_000_000 }
    return UInt64(seconds * 1e9)
}
