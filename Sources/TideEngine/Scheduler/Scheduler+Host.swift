// Scheduler+Host.swift: the host functions; each records an intent and returns, never resumes.
import Foundation
import LuaBridge
import TideLua
import TideProtocol

extension Scheduler {
    func call(_ function: Int32, _ frame: LuaFrame, resumed: Bool, _ out: inout LuaReturn) -> LuaAction {
        guard let host = HostFunction(rawValue: function) else {
            out.error("unknown host function \(function)")
            return .error
        }
        let slot = runningSlot(id: frame.threadID)
        if host.waits {
            guard slot != nil else {
                out.error(outsideTaskMessage(host, frame))
                return .error
            }
            if !resumed && !frame.isYieldable {
                out.error("\(host.userName) cannot wait here: Lua cannot yield inside a table.sort comparator, a string.gsub callback, a metamethod called from C, or the body of a module being required")
                return .error
            }
        }
        switch host {
        case .spawn: return spawn(frame, slot, &out)
        case .wait: return wait(frame, slot!, resumed: resumed, &out)
        case .cancel: return cancel(frame, slot!, resumed: resumed, &out)
        case .groupOpen: return groupOpen(frame, slot, &out)
        case .groupClose: return groupClose(frame, slot, &out)
        case .groupIsOpen:
            out.push(ownedGroup(frame, 1, slot) != nil)
            return .return
        case .groupFailure: return groupFailure(frame, slot, &out)
        case .progress: return progress(frame, slot, &out)
        case .sleep: return sleep(frame, slot!, resumed: resumed, &out)
        case .stepBegin: return stepBegin(frame, slot, &out)
        case .stepRetry: return stepRetry(frame, &out)
        case .stepEnd: return stepEnd(frame, slot, &out)
        case .log: return log(frame, slot, &out)
        case .exec: return exec(frame, slot!, resumed: resumed, &out)
        case .now:
            out.push(clock.wallNow())
            return .return
        case .clock:
            out.push(Double(clock.now()) / 1e9)
            return .return
        case .env:
            guard let name = frame.string(1) else { return argumentError(&out, 1, "string expected") }
            if let value = ProcessInfo.processInfo.environment[name] { out.push(value) } else { out.pushNil() }
            return .return
        case .kv: return keyValue(frame, &out)
        case .http: return http(frame, slot!, resumed: resumed, &out)
        case .source:
            let chunk = frame.string(1) == "plugins" ? EmbeddedLua.plugins : EmbeddedLua.json
            chunk.bytes.withUnsafeBytes { out.push(bytes: $0) }
            return .return
        }
    }

    private func outsideTaskMessage(_ host: HostFunction, _ frame: LuaFrame) -> String {
        if frame.threadID != 0 {
            return "\(host.userName) cannot be used while a task is being cancelled (in a <close> handler)"
        }
        if frame.thread == vm.main {
            return "\(host.userName) can only be used while a flow runs (inside run or its tasks), not at the top level of a script"
        }
        return "\(host.userName) cannot be used inside a coroutine made with coroutine.create or coroutine.wrap: tide schedules tasks itself, use parallel, race, any or batch for concurrent work"
    }

    func argumentError(_ out: inout LuaReturn, _ n: Int32, _ message: String) -> LuaAction {
        out.error(message, argument: n)
        return .argumentError
    }

    func failure(_ out: inout LuaReturn, _ message: String) -> LuaAction {
        out.error(message)
        return .error
    }

    /// The group `frame[index]`, if the running task owns it.
    private func ownedGroup(_ frame: LuaFrame, _ index: Int32, _ slot: Int32?) -> Int32? {
        guard let slot, let raw = frame.integer(index), raw >= 0, raw < groups.count else { return nil }
        let gid = Int32(raw)
        guard groups[Int(gid)].active, groups[Int(gid)].owner == slot else { return nil }
        return gid
    }

    /// The node that new records of the task attach to; a member of a visible group gets its branch
    /// node here, on first use.
    func currentNode(_ slot: Int32) -> Int32 {
        let task = tasks[Int(slot)]
        if let node = task.nodes.last { return node }
        if task.branchNode > 0 { return task.branchNode }
        if task.group >= 0, !groups[Int(task.group)].hidden {
            let node = recorder.begin(.branch, name: task.label ?? String(task.index), parent: groups[Int(task.group)].node)
            tasks[Int(slot)].branchNode = node
            return node
        }
        return task.baseNode
    }

    // MARK: - Tasks and groups

    private func spawn(_ frame: LuaFrame, _ slot: Int32?, _ out: inout LuaReturn) -> LuaAction {
        guard let thread = frame.spawnedThread else { return failure(&out, "spawn: no coroutine") }
        let ref = frame.spawnedReference
        var gid: Int32 = -1
        if let slot {
            guard let owned = ownedGroup(frame, 2, slot) else {
                out.release(ref)
                return failure(&out, "spawn: group \(frame.integer(2) ?? -1) is not open in this task")
            }
            gid = owned
        } else if !(allowTopLevelSpawn && frame.thread == vm.main) {
            out.release(ref)
            return failure(&out, outsideTaskMessage(.spawn, frame))
        }
        let new = allocateTask()
        let generation = tasks[Int(new)].generation
        tasks[Int(new)].thread = thread
        tasks[Int(new)].ref = ref
        tasks[Int(new)].group = gid
        tasks[Int(new)].index = Int32(truncatingIfNeeded: frame.integer(3) ?? 0)
        tasks[Int(new)].label = frame.string(4)
        tasks[Int(new)].initialArguments = max(0, frame.count - 4)
        let id = TaskRecord.id(slot: new, generation: generation)
        thread.id = id
        if gid >= 0 {
            tasks[Int(new)].baseNode = groups[Int(gid)].node
            groups[Int(gid)].members.append(id)
            groups[Int(gid)].live += 1
            if groups[Int(gid)].reportsBranches { _ = currentNode(new) }
        } else {
            topLevel = new
        }
        makeReady(new, .none)
        return .return
    }

    private func wait(_ frame: LuaFrame, _ slot: Int32, resumed: Bool, _ out: inout LuaReturn) -> LuaAction {
        guard let gid = ownedGroup(frame, 1, slot) else { return failure(&out, "wait: group is not open in this task") }
        if resumed {
            tasks[Int(slot)].wait = .none
            groups[Int(gid)].ownerWaiting = false
        }
        if let member = groups[Int(gid)].completed.popFirst() {
            deliver(member, of: gid, &out)
            return .return
        }
        if resumed {
            out.pushNil()  // the deadline passed first
            return .return
        }
        var deadline: UInt64 = 0
        if let seconds = frame.number(2) {
            deadline = nanoseconds(seconds)
            if deadline <= clock.now() {
                out.pushNil()
                return .return
            }
        }
        groups[Int(gid)].ownerWaiting = true
        tasks[Int(slot)].wait = .group(gid)
        if deadline == 0 {
            tasks[Int(slot)].timerToken = 0
        } else {
            let group = groups[Int(gid)]
            let token = tasks[Int(slot)].timerToken
            if group.deadline == deadline, token != 0, token == group.deadlineToken {
                // the same deadline entry is still armed for this task: nothing to add to the heap
            } else {
                armTimer(slot, at: deadline)
                groups[Int(gid)].deadline = deadline
                groups[Int(gid)].deadlineToken = tasks[Int(slot)].timerToken
            }
        }
        return .yield
    }

    /// Hands a finished member's outcome to its group's owner: `index, ok, values...`.
    private func deliver(_ member: Int32, of gid: Int32, _ out: inout LuaReturn) {
        let task = tasks[Int(member)]
        guard case .done(let ok, let results) = task.state, let thread = task.thread else { return }
        out.push(Int64(task.index))
        out.push(ok)
        out.move(from: thread, count: results)
        out.release(task.ref)
        if task.branchNode > 0 { recorder.finish(task.branchNode, ok ? .succeeded : .failed) }
        groups[Int(gid)].lastDeliveredNode = task.branchNode
        groups[Int(gid)].live -= 1
        freeTask(member)
    }

    private func cancel(_ frame: LuaFrame, _ slot: Int32, resumed: Bool, _ out: inout LuaReturn) -> LuaAction {
        if resumed { return .return }
        guard let gid = ownedGroup(frame, 1, slot) else { return failure(&out, "cancel: group is not open in this task") }
        tasks[Int(slot)].wait = .cancel(gid)
        tasks[Int(slot)].timerToken = 0
        return .yield  // the resume site closes the members, then continues this task at once
    }

    private func groupOpen(_ frame: LuaFrame, _ slot: Int32?, _ out: inout LuaReturn) -> LuaAction {
        guard let slot else { return failure(&out, outsideTaskMessage(.groupOpen, frame)) }
        if !frame.isYieldable {
            return failure(&out, "parallel, race, any and batch cannot wait here: Lua cannot yield inside a table.sort comparator, a string.gsub callback, a metamethod called from C, or the body of a module being required")
        }
        let kind = frame.string(1) ?? "group"
        let name = frame.string(2)
        let total = Int(frame.integer(3) ?? 0)
        let hidden = frame.bool(4)
        let parent = currentNode(slot)
        let gid = allocateGroup()
        groups[Int(gid)].active = true
        groups[Int(gid)].owner = slot
        groups[Int(gid)].hidden = hidden
        groups[Int(gid)].node = hidden ? parent : recorder.begin(.group, name: name ?? kind, parent: parent, primitive: kind, total: total)
        groups[Int(gid)].reportsBranches = !hidden && total <= 32
        tasks[Int(slot)].ownedGroups.append(gid)
        out.push(Int64(gid))
        return .return
    }

    private func groupClose(_ frame: LuaFrame, _ slot: Int32?, _ out: inout LuaReturn) -> LuaAction {
        guard let slot, let gid = ownedGroup(frame, 1, slot) else { return failure(&out, "group_close: group is not open in this task") }
        if groups[Int(gid)].live > 0, !groups[Int(gid)].members.isEmpty {
            return failure(&out, "group_close: the group still has running tasks (cancel them first)")
        }
        if !groups[Int(gid)].hidden {
            let status = NodeStatus(rawValue: frame.string(2) ?? "") ?? .succeeded
            if let done = frame.integer(4) { recorder.setDone(groups[Int(gid)].node, Int(done)) }
            recorder.finish(groups[Int(gid)].node, status, error: frame.string(3))
        }
        if let i = tasks[Int(slot)].ownedGroups.lastIndex(of: gid) { tasks[Int(slot)].ownedGroups.remove(at: i) }
        freeGroup(gid)
        return .return
    }

    private func groupFailure(_ frame: LuaFrame, _ slot: Int32?, _ out: inout LuaReturn) -> LuaAction {
        guard let slot, let gid = ownedGroup(frame, 1, slot) else { return .return }
        let group = groups[Int(gid)]
        guard !group.hidden else { return .return }
        let error = frame.string(3) ?? "{}"
        if group.lastDeliveredNode > 0 {
            recorder.setError(group.lastDeliveredNode, error)
        } else {
            let node = recorder.begin(.branch, name: frame.string(2) ?? "?", parent: group.node, announce: false)
            recorder.finish(node, .failed, error: error)
        }
        return .return
    }

    private func progress(_ frame: LuaFrame, _ slot: Int32?, _ out: inout LuaReturn) -> LuaAction {
        guard let gid = ownedGroup(frame, 1, slot), !groups[Int(gid)].hidden else { return .return }
        recorder.progress(groups[Int(gid)].node, done: Int(frame.integer(2) ?? 0), total: Int(frame.integer(3) ?? 0))
        return .return
    }

    // MARK: - Time

    private func sleep(_ frame: LuaFrame, _ slot: Int32, resumed: Bool, _ out: inout LuaReturn) -> LuaAction {
        if resumed {
            tasks[Int(slot)].wait = .none
            return .return
        }
        let seconds = frame.number(1) ?? 0
        tasks[Int(slot)].timerToken = 0
        if seconds > 0 {
            tasks[Int(slot)].wait = .sleep
            armTimer(slot, at: clock.now() &+ nanoseconds(seconds))
        }
        return .yield  // sleep(0) just lets the others run
    }

    // MARK: - Steps and logs

    private func stepBegin(_ frame: LuaFrame, _ slot: Int32?, _ out: inout LuaReturn) -> LuaAction {
        guard let slot else { return failure(&out, outsideTaskMessage(.stepBegin, frame)) }
        let kind: StepRecord.Kind = frame.string(2) == "compensation" ? .compensation : .step
        let node = recorder.begin(kind, name: frame.string(1) ?? "step", parent: currentNode(slot))
        tasks[Int(slot)].nodes.append(node)
        out.push(Int64(node))
        return .return
    }

    private func stepRetry(_ frame: LuaFrame, _ out: inout LuaReturn) -> LuaAction {
        guard let node = frame.integer(1) else { return .return }
        recorder.retrying(Int32(truncatingIfNeeded: node), attempt: Int(frame.integer(2) ?? 1), error: frame.string(3) ?? "", delay: frame.number(4) ?? 0)
        return .return
    }

    private func stepEnd(_ frame: LuaFrame, _ slot: Int32?, _ out: inout LuaReturn) -> LuaAction {
        guard let raw = frame.integer(1) else { return .return }
        let node = Int32(truncatingIfNeeded: raw)
        if let slot, let i = tasks[Int(slot)].nodes.lastIndex(of: node) { tasks[Int(slot)].nodes.remove(at: i) }
        recorder.finish(
            node, NodeStatus(rawValue: frame.string(2) ?? "") ?? .succeeded, attempts: frame.integer(3).map { Int($0) },
            result: frame.string(4), error: frame.string(5))
        return .return
    }

    private func log(_ frame: LuaFrame, _ slot: Int32?, _ out: inout LuaReturn) -> LuaAction {
        let level = LogLine.Level(rawValue: frame.string(1) ?? "info") ?? .info
        recorder.log(level, frame.string(2) ?? "", node: slot.map(currentNode) ?? 0)
        return .return
    }

    /// kv(op, key [, json]): "get" returns the JSON text or nil; "set" and "delete" return nothing.
    private func keyValue(_ frame: LuaFrame, _ out: inout LuaReturn) -> LuaAction {
        guard let (store, flow) = keyValues else {
            return failure(&out, "kv is not available while a script loads: use it inside run(ctx)")
        }
        guard let op = frame.string(1), let key = frame.string(2) else { return failure(&out, "kv: bad call") }
        do {
            switch op {
            case "get":
                if let value = try store.get(flow: flow, key: key) { out.push(value) } else { out.pushNil() }
            case "set":
                try store.set(flow: flow, key: key, value: frame.string(3) ?? "null")
            default:
                try store.delete(flow: flow, key: key)
            }
        } catch {
            return failure(&out, "kv.\(op)('\(key)') failed: \(error)")
        }
        return .return
    }

    // MARK: - Subprocesses

    /// exec(cwd, stdin, env, argv...) with env as "K=V\0K=V"; resumes with
    /// status, stdout, stderr, duration, failure.
    private func exec(_ frame: LuaFrame, _ slot: Int32, resumed: Bool, _ out: inout LuaReturn) -> LuaAction {
        if resumed {
            tasks[Int(slot)].wait = .none
            guard let result = processResults.removeValue(forKey: slot) else { return failure(&out, "the subprocess vanished") }
            out.push(Int64(result.status))
            out.push(bytes: result.standardOutput)
            out.push(bytes: result.standardError)
            out.push(result.duration)
            if let failure = result.failure { out.push(failure) } else { out.pushNil() }
            return .return
        }
        guard let launcher else { return failure(&out, "subprocesses are not available in this context") }
        var arguments: [String] = []
        var i: Int32 = 4
        while i <= frame.count {
            guard let argument = frame.string(i) else { return argumentError(&out, i - 3, "string expected") }
            arguments.append(argument)
            i += 1
        }
        guard !arguments.isEmpty else { return failure(&out, "no command given") }
        var environment: [String: String] = [:]
        if let encoded = frame.string(3) {
            for pair in encoded.split(separator: "\0", omittingEmptySubsequences: true) {
                guard let eq = pair.firstIndex(of: "=") else { continue }
                environment[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
            }
        }
        let request = ProcessRequest(
            arguments: arguments, workingDirectory: frame.string(1), environment: environment,
            standardInput: frame.bytes(2), captureLimit: captureLimit, node: currentNode(slot))
        launcher.launch(request, id: park(slot, on: TaskWait.io))
        return .yield
    }

    /// Parks the task in `slot` on an outside operation (a process or an http call): gives the
    /// operation an id, by which its outcome comes back, and returns it.
    func park(_ slot: Int32, on wait: (Int) -> TaskWait) -> Int {
        let id = nextProcess
        nextProcess += 1
        processes[id] = (slot, tasks[Int(slot)].generation)
        tasks[Int(slot)].io = id
        tasks[Int(slot)].wait = wait(id)
        tasks[Int(slot)].timerToken = 0
        return id
    }
}

extension HostFunction {
    /// The API name users know the function by.
    var userName: String {
        switch self {
        case .sleep: "sleep"
        case .exec: "sh and exec"
        case .wait, .cancel, .groupOpen, .spawn: "parallel, race, any and batch"
        case .stepBegin: "step"
        default: luaName
        }
    }
}
