// StateDatabase.swift: state.sqlite and its -wal and -shm, checked before SQLite opens them.
import Foundation
import Logging

/// The history database in the state folder, as the daemon finds it before opening it.
///
/// SQLite follows symbolic links and would start a new, empty history on a file of 0 bytes; it
/// creates `-wal` and `-shm` with the database file's mode. So the daemon first refuses a
/// database (or `-wal`, `-shm`) that is a link, not a regular file or another user's; refuses a
/// database of 0 bytes (a truncated history, see docs/daemon.md) and one it may not read and
/// write, saying what to do; and creates a missing one itself with mode 0600, so that SQLite's
/// files are private from the start. It changes the mode of no file it did not create.
enum StateDatabase {
    static let name = "state.sqlite"

    /// Checks (or creates) the database in `folder`; returns its path.
    static func prepare(in folder: PrivateFolder, logger: Logger) throws(DaemonError) -> String {
        let path = folder.path + "/" + name
        for suffix in ["-wal", "-shm", "-journal"] {
            if let info = try folder.check(name + suffix, what: "the state database's \(suffix) file") {
                warnIfShared(path + suffix, info, logger: logger)
            }
        }
        guard let info = try folder.check(name, what: "the state database") else {
            let fd = folder.open(name, O_RDWR | O_CREAT | O_EXCL)
            guard fd >= 0 else {
                throw DaemonError("cannot create the state database \(path): \(String(cString: strerror(errno))) (is \(folder.path) writable? choose another folder with --state)")
            }
            fchmod(fd, 0o600)  // the umask may have taken bits off, never added any
            close(fd)
            return path
        }
        let fd = folder.open(name, O_RDWR)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            if errno == EACCES || errno == EPERM {
                throw DaemonError("the state database \(path) cannot be read and written by \(userName(geteuid())), the user tide runs as (its mode is \(octal(info.st_mode & 0o7777)), its owner \(userName(info.st_uid))): give it back its mode with chmod 600 \(path), or run tide as the user it belongs to")
            }
            throw DaemonError("cannot open the state database \(path): \(reason)")
        }
        close(fd)
        if info.st_size == 0 {
            throw DaemonError("the state database \(path) is empty (0 bytes): the history it held (runs, logs, kv values, schedule marks) is gone, most likely truncated (a full disk, a failed copy or restore). tide does not start on it, which would silently begin an empty history: restore it from a backup, or to start afresh remove it (rm \(path)) and start tide again")
        }
        warnIfShared(path, info, logger: logger)
        return path
    }

    private static func warnIfShared(_ path: String, _ info: stat, logger: Logger) {
        guard info.st_mode & 0o077 != 0 else { return }
        logger.warning("\(path) can be read by other users (mode \(octal(info.st_mode & 0o7777))); tide leaves the mode of a file it did not create alone: chmod 600 \(path) to keep the history private")
    }
}
