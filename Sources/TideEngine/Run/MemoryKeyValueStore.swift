// MemoryKeyValueStore.swift: `kv` for runs outside the daemon (`tide exec`): kept for one run.
import Synchronization
import TideProtocol

/// A key-value store in memory.
public final class MemoryKeyValueStore: KeyValueStore {
    private let values = Mutex<[String: String]>([:])

    /// Creates an empty store.
    public init() {}

    public func get(flow: String, key: String) throws -> String? {
        values.withLock { $0[flow + "\0" + key] }
    }

    public func set(flow: String, key: String, value: String) throws {
        values.withLock { $0[flow + "\0" + key] = value }
    }

    public func delete(flow: String, key: String) throws {
        _ = values.withLock { $0.removeValue(forKey: flow + "\0" + key) }
    }
}
