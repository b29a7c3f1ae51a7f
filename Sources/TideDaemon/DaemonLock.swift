// DaemonLock.swift: one daemon per state folder (an flock held for the daemon's life).
import Foundation

/// An exclusive lock on `FOLDER/daemon.lock`, holding the daemon's pid.
///
/// The kernel releases it when the process dies, however it dies: a daemon killed with
/// `kill -9` leaves a stale socket file but no stale lock, so the next start reclaims both.
final class DaemonLock {
    private let fd: Int32

    /// Takes the lock in `folder` (opened there without following a symbolic link).
    init(folder: PrivateFolder, home: String) throws {
        let path = folder.path + "/daemon.lock"
        fd = folder.open("daemon.lock", O_RDWR | O_CREAT)
        guard fd >= 0 else {
            if errno == ELOOP {
                throw DaemonError("\(path) is a symbolic link; tide does not follow links in its state folder: remove it")
            }
            throw DaemonError("cannot create \(path): \(String(cString: strerror(errno))) (is \(folder.path) writable? choose another folder with --state)")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let count = pread(fd, &buffer, 31, 0)
            let pid = count > 0 ? String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            close(fd)
            throw DaemonError("another tide serve (pid \(pid)) is already running on this home (\(home)); stop it first (tide status shows it), or give this one its own --state and --socket")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, text, text.utf8.count, 0)
    }

    /// Releases the lock.
    func release() {
        close(fd)
    }
}
