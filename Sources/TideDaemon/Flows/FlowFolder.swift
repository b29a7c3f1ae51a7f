// FlowFolder.swift: the scripts under flows/, listed with readdir so that no file name is lost.
import Foundation

/// Lists the `*.lua` files under a folder, recursively, in path order.
///
/// Names are read as bytes: a name that is not UTF-8 is listed too (shown with its invalid
/// bytes as `\xff`), so that it can be reported instead of silently skipped. Hidden files and
/// folders (a name starting with `.`) are skipped. Symbolic links are followed, the folder
/// itself included (a `flows/` linked from a dotfiles repository); a link back to a folder
/// already walked is not walked again.
enum FlowFolder {
    /// One script found.
    struct Entry: Sendable, Equatable {
        /// The path shown to users: `flows/sub/a.lua`, invalid UTF-8 bytes as `\xNN`.
        var path: String
        /// The absolute path to open, or nil when the name is not UTF-8.
        var absolute: String?
    }

    /// The scripts under `root` (an absolute path), shown under `shownAs` (`flows`).
    static func scripts(in root: String, shownAs: String) -> [Entry] {
        var out: [Entry] = []
        var visited = Set<FolderID>()
        walk(Array(root.utf8), relative: [], shownAs: shownAs, visited: &visited, into: &out)
        return out.sorted { $0.path < $1.path }
    }

    /// `bytes` as text: valid UTF-8 as it is, every other byte as `\xNN`.
    static func display(_ bytes: some Collection<UInt8>) -> String {
        let bytes = Array(bytes)
        var out = ""
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                out.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                offset += encoded.count
            case .error(let length):
                for byte in bytes[offset..<offset + length] { out += "\\x" + String(byte, radix: 16).leftPadded(to: 2) }
                offset += length
            case .emptyInput:
                return out
            }
        }
    }

    private struct FolderID: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    /// The entries of `folder` (hidden ones skipped) by name, links followed to tell folders
    /// from files; links that lead nowhere are left out.
    static func children(of folder: [UInt8]) -> [(name: [UInt8], isFolder: Bool)] {
        guard let dir = folder.withCString({ opendir($0) }) else { return [] }
        defer { closedir(dir) }
        var out: [(name: [UInt8], isFolder: Bool)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            guard let first = name.first, first != UInt8(ascii: ".") else { continue }
            var kind = Int32(entry.pointee.d_type)
            if kind == Int32(DT_LNK) || kind == Int32(DT_UNKNOWN) {
                guard let target = fileInfo(folder + [UInt8(ascii: "/")] + name) else { continue }
                kind = (target.st_mode & S_IFMT) == S_IFDIR ? Int32(DT_DIR) : Int32(DT_REG)
            }
            out.append((name, kind == Int32(DT_DIR)))
        }
        return out
    }

    private static func walk(_ folder: [UInt8], relative: [UInt8], shownAs: String, visited: inout Set<FolderID>, into out: inout [Entry]) {
        guard let info = fileInfo(folder), (info.st_mode & S_IFMT) == S_IFDIR,
              visited.insert(FolderID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))).inserted else { return }
        for (name, isFolder) in children(of: folder) {
            let path = folder + [UInt8(ascii: "/")] + name
            let shown = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
            if isFolder {
                walk(path, relative: shown, shownAs: shownAs, visited: &visited, into: &out)
            } else if name.count > 4, name.suffix(4).elementsEqual(".lua".utf8) {
                out.append(Entry(path: shownAs + "/" + display(shown), absolute: String(validating: path, as: UTF8.self)))
            }
        }
    }

    private static func fileInfo(_ path: [UInt8]) -> stat? {
        var info = stat()
        return path.withCString { stat($0, &info) } == 0 ? info : nil
    }
}

extension Array where Element == UInt8 {
    /// Calls `body` with the bytes as a NUL-terminated C string.
    fileprivate func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        (self + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
