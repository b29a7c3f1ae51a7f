// PrivateFolder.swift: a folder of the daemon's own (state, socket), opened without following links.
import Foundation

/// A folder the daemon keeps its history, lock or socket in.
///
/// A missing folder is created with mode 0700 (its parents as the umask says). An existing one
/// is opened with `O_NOFOLLOW | O_DIRECTORY` and checked on that descriptor (`fstat`, so what
/// is checked is what is used): it must be a real folder, not a symbolic link, owned by the
/// user the daemon runs as (or by root, where `rootMayOwn`), and tide never changes its mode.
/// Files inside are checked and opened relative to the descriptor, without following links.
final class PrivateFolder: Sendable {
    /// The folder's path.
    let path: String
    /// What the folder is, in messages: "the state folder".
    let role: String
    /// True when this daemon created it.
    let created: Bool
    private let fd: Int32
    private let identity: FileIdentity

    /// Opens (creating if missing) `path`; `hint` tells the user how to choose another folder.
    init(_ path: String, role: String, hint: String, rootMayOwn: Bool = false) throws(DaemonError) {
        self.path = path
        self.role = role
        var created = false
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else {
                throw DaemonError("cannot look at \(role) \(path): \(lastError()) (\(hint))")
            }
            let parent = (path as NSString).deletingLastPathComponent
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw DaemonError("cannot create the folder \(parent): \(error.localizedDescription) (is its parent writable? \(hint))")
            }
            if mkdir(path, 0o700) == 0 {
                created = true
            } else if errno != EEXIST {
                throw DaemonError("cannot create \(role) \(path): \(lastError()) (is its parent writable? \(hint))")
            }
        }
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            // with O_DIRECTORY, a link gives ENOTDIR: lstat tells the two apart
            let isLink = lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
            switch isLink ? ELOOP : errno {
            case ELOOP:
                throw DaemonError("\(role) \(path) is a symbolic link (to \(Self.linkTarget(path))); tide does not follow a link there, so that nobody can point it at files that are not its own: remove the link, or give the real folder (\(hint))")
            case ENOTDIR:
                throw DaemonError("\(role) \(path) exists but is not a folder (\(hint))")
            default:
                throw DaemonError("cannot open \(role) \(path): \(lastError()) (\(hint))")
            }
        }
        guard fstat(fd, &info) == 0 else {
            let reason = lastError()
            close(fd)
            throw DaemonError("cannot look at \(role) \(path): \(reason)")
        }
        let me = geteuid()
        guard info.st_uid == me || (rootMayOwn && info.st_uid == 0) else {
            close(fd)
            throw DaemonError("\(role) \(path) is owned by \(userName(info.st_uid)), not by \(userName(me)), the user tide runs as\(rootMayOwn ? " (or root)" : ""); tide keeps its files only in a folder of its own user, which nobody else can change: remove it (or chown it, if it is yours), or choose another (\(hint))")
        }
        if !created, info.st_mode & S_IWOTH != 0, info.st_mode & S_ISVTX == 0 {
            close(fd)
            throw DaemonError("\(role) \(path) can be written by every user (mode \(octal(info.st_mode & 0o7777))), so another user could replace what tide puts there: chmod o-w it, or choose another (\(hint))")
        }
        if created { fchmod(fd, 0o700) }  // mkdir's mode went through the umask
        self.fd = fd
        self.created = created
        identity = FileIdentity(info)
    }

    deinit { close(fd) }

    /// The group and others' permission bits, for a warning when they are not 0 (nil when 0).
    var looseMode: String? {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & 0o077 != 0 else { return nil }
        return octal(info.st_mode & 0o7777)
    }

    /// Whether `path` still names the folder opened (nobody swapped it meanwhile).
    var isStillInPlace: Bool {
        var info = stat()
        return lstat(path, &info) == 0 && FileIdentity(info) == identity
    }

    /// `name` inside, when it exists: refused when it is a symbolic link, not a regular file or
    /// owned by another user; nil when it does not exist.
    func check(_ name: String, what: String) throws(DaemonError) -> stat? {
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw DaemonError("cannot look at \(what) \(path)/\(name): \(lastError())")
        }
        let file = path + "/" + name
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            throw DaemonError("\(what) \(file) is a symbolic link (to \(Self.linkTarget(file))); tide does not follow links in \(role): remove the link (and move the real file there, if it is yours)")
        case S_IFREG:
            break
        default:
            throw DaemonError("\(what) \(file) is not a regular file: remove it, or choose another folder")
        }
        guard info.st_uid == geteuid() else {
            throw DaemonError("\(what) \(file) is owned by \(userName(info.st_uid)), not by \(userName(geteuid())), the user tide runs as: remove it (or chown it, if it is yours)")
        }
        return info
    }

    /// Opens `name` inside without following a symbolic link; -1 and errno on failure.
    func open(_ name: String, _ flags: Int32, mode: mode_t = 0o600) -> Int32 {
        openat(fd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode)
    }

    private static func linkTarget(_ path: String) -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "somewhere unreadable"
    }
}

/// A file's device and inode.
private struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// "alice (uid 1000)".
func userName(_ uid: uid_t) -> String {
    guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid \(uid)" }
    return "\(String(cString: name)) (uid \(uid))"
}

/// A mode as `0755`.
func octal(_ mode: mode_t) -> String {
    let digits = String(mode, radix: 8)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

private func lastError() -> String {
    String(cString: strerror(errno))
}
