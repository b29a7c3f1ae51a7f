// ParallelLoads.swift: validates many flow files at once, one Lua state per file, on every core.
import Foundation
import Synchronization
import TideEngine

/// Runs `count` independent loads on threads of their own (as many as there are cores), and
/// returns their results in order. Each load has a fresh Lua state, so they share nothing; a
/// file whose top level loops holds one thread for the load limit while the others go on.
enum ParallelLoads {
    static func run<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        guard count > 0 else { return [] }
        let next = Atomic(0)
        let results = Mutex([T?](repeating: nil, count: count))
        let threads = min(count, max(1, ProcessInfo.processInfo.activeProcessorCount))
        let done = DispatchGroup()
        for _ in 0..<threads {
            done.enter()
            let thread = Thread {
                RunExecutor.lowerCurrentThreadToRunPriority()  // loads run user code, as runs do
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    guard i < count else { break }
                    let result = body(i)
                    results.withLock { $0[i] = result }
                }
                done.leave()
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return results.withLock { $0.map { $0! } }
    }
}
