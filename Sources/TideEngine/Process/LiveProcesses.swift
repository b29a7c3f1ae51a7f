// LiveProcesses.swift: the process groups tide has started and not yet reaped.
import Foundation
import Synchronization

/// Every running subprocess's process group, so that a hard exit (a second Ctrl-C) can kill them
/// instead of leaving orphans behind.
public enum LiveProcesses {
    private static let groups = Mutex<Set<pid_t>>([])

    static func started(_ pid: pid_t) { _ = groups.withLock { $0.insert(pid) } }
    static func finished(_ pid: pid_t) { _ = groups.withLock { $0.remove(pid) } }

    /// Sends SIGKILL to every live process group (safe to call right before `_exit`).
    public static func killAll() {
        for pid in groups.withLock({ $0 }) { kill(-pid, SIGKILL) }
    }
}
