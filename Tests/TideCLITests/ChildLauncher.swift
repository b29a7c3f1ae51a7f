// ChildLauncher.swift: starts the tests' child processes so that they die with the test process.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Starts a test's `tide serve`, `tide exec` and client processes so that none outlives the
/// test process, however that ends (a crash, a SIGKILL, a hung run killed by `make test`'s
/// budget): each is started through `setpriv --pdeathsig KILL`, which makes the kernel kill it
/// when its parent dies.
///
/// Linux sends the parent-death signal when the *thread* that started the child exits, and the
/// threads of the cooperative pool come and go; so every child is started from one thread that
/// lives as long as the test process.
enum ChildLauncher {
    private static let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")
    private static let requests = NSCondition()
    nonisolated(unsafe) private static var queue: [@Sendable () -> Void] = []
    /// Starts the launching thread, once.
    private static let started: Bool = {
        let thread = Thread {
            while true {
                requests.lock()
                while queue.isEmpty { requests.wait() }
                let work = queue.removeFirst()
                requests.unlock()
                work()
            }
        }
        thread.name = "tide-tests-launcher"
        thread.start()
        return true
    }()

    /// Runs `process` (configured but not started) tied to the test process's life.
    static func run(_ process: Process) throws {
        guard let executable = process.executableURL else { return try process.run() }
        process.executableURL = setpriv
        process.arguments = ["--pdeathsig", "KILL", "--", executable.path] + (process.arguments ?? [])
        let box = UncheckedBox(process)
        let done = DispatchSemaphore(value: 0)
        let failure = LockedError()
        _ = started
        requests.lock()
        queue.append {
            do { try box.value.run() } catch { failure.set(error) }
            done.signal()
        }
        requests.signal()
        requests.unlock()
        done.wait()  // posix_spawn: a millisecond
        if let error = failure.get() { throw error }
    }
}

private final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

private final class LockedError: @unchecked Sendable {
    private let lock = NSLock()
    private var error: Error?
    func set(_ error: Error) { lock.withLock { self.error = error } }
    func get() -> Error? { lock.withLock { error } }
}
