// ProcessRunner.swift: runs one subprocess with swift-subprocess, in its own process group.
import TideProtocol
import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Runs a ``ProcessRequest``: captures output up to the limit (reading and dropping the rest),
/// streams lines into the run's log, and on cancellation terminates the whole process group
/// (SIGTERM, then SIGKILL after 2 s).
enum ProcessRunner {
    /// Lines of each stream written to the run log before the log notes the rest is omitted.
    static let loggedLinesLimit = 1000
    /// Longest line written to the log.
    static let loggedLineLength = 4096

    static func run(_ request: ProcessRequest, observer: RunObserver, started: @Sendable (pid_t) -> Void = { _ in }) async -> ProcessResult {
        let start = ContinuousClock.now
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        let command = request.arguments[0]
        let executable: Executable
        if command.contains("/") {
            if access(command, F_OK) == 0, access(command, X_OK) != 0 {
                return ProcessResult(status: 126, standardOutput: [], standardError: [], duration: 0, failure: "permission denied: \(command) is not executable")
            }
            executable = .path(FilePath(command))
        } else {
            let searchPath = request.environment["PATH"] ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
            guard let found = ExecutableResolver.shared.resolve(command, path: searchPath) else {
                return ProcessResult(status: 127, standardOutput: [], standardError: [], duration: 0, failure: "command not found: \(command)")
            }
            executable = .path(FilePath(found))
        }
        var overrides: [Environment.Key: String?] = [:]
        for (key, value) in request.environment {
            if let key = Environment.Key(rawValue: key) { overrides[key] = value }
        }
        let configuration = Configuration(
            executable: executable, arguments: Arguments(Array(request.arguments.dropFirst())),
            environment: .inherit.updating(overrides),
            workingDirectory: request.workingDirectory.map { FilePath($0) }, platformOptions: options)
        func elapsed() -> Double {
            let d = ContinuousClock.now - start
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        do {
            let outcome: ExecutionResult<(Captured, Captured), SequenceOutput, SequenceOutput>
            if let input = request.standardInput {
                // From a file, not a pipe: a command that never reads its input cannot
                // make a write fail (EPIPE) or block on a full pipe.
                let fd = try inputFile(input)
                outcome = try await Subprocess.run(
                    configuration, input: .fileDescriptor(FileDescriptor(rawValue: fd), closeAfterSpawningProcess: true),
                    output: .sequence, error: .sequence
                ) { execution in
                    started(execution.processIdentifier.value)
                    return try await capture(execution.standardOutput, execution.standardError, request, observer)
                }
            } else {
                outcome = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .sequence) { execution in
                    started(execution.processIdentifier.value)
                    return try await capture(execution.standardOutput, execution.standardError, request, observer)
                }
            }
            let status: Int32
            switch outcome.terminationStatus {
            case .exited(let code): status = code
            case .signaled(let signal): status = 128 + signal
            }
            return ProcessResult(
                status: status, standardOutput: outcome.closureResult.0.bytes, standardError: outcome.closureResult.1.bytes,
                duration: elapsed(), failure: nil)
        } catch let error as SubprocessError {
            let (status, message) = describe(error, request)
            return ProcessResult(status: status, standardOutput: [], standardError: [], duration: elapsed(), failure: message)
        } catch {
            return ProcessResult(status: 126, standardOutput: [], standardError: [], duration: elapsed(), failure: "\(command): \(error)")
        }
    }

    private static func describe(_ error: SubprocessError, _ request: ProcessRequest) -> (Int32, String) {
        let command = request.arguments[0]
        switch error.code {
        case .executableNotFound:
            return (127, "command not found: \(command)")
        case .failedToChangeWorkingDirectory:
            return (126, "cannot run \(command): working directory '\(request.workingDirectory ?? "")' is not accessible")
        default:
            return (126, "cannot run \(command): \(error)")
        }
    }

    /// An unlinked temporary file holding `bytes`, positioned at its start.
    private static func inputFile(_ bytes: [UInt8]) throws -> Int32 {
        var template = Array((NSTemporaryDirectory() + "/tide-stdin-XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw ProcessInputError(message: "cannot create the standard input file: errno \(errno)") }
        unlink(template)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                close(fd)
                throw ProcessInputError(message: "cannot write the standard input file: errno \(errno)")
            }
            offset += n
        }
        lseek(fd, 0, SEEK_SET)
        return fd
    }

    struct ProcessInputError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    struct Captured: Sendable {
        var bytes: [UInt8] = []
        var total = 0
    }

    private static func capture(
        _ stdout: SubprocessOutputSequence, _ stderr: SubprocessOutputSequence, _ request: ProcessRequest,
        _ observer: RunObserver
    ) async throws -> (Captured, Captured) {
        async let out = drain(stdout, request, .info, observer)
        async let err = drain(stderr, request, .warn, observer)
        return try await (out, err)
    }

    /// Reads a stream to its end: keeps the first `captureLimit` bytes, logs complete lines.
    private static func drain(
        _ sequence: SubprocessOutputSequence, _ request: ProcessRequest, _ level: LogLine.Level,
        _ observer: RunObserver
    ) async throws -> Captured {
        var captured = Captured()
        var pending: [UInt8] = []
        var logged = 0
        let node: Int? = request.node > 0 ? Int(request.node) : nil
        func emit(_ line: ArraySlice<UInt8>) {
            logged += 1
            if logged <= loggedLinesLimit {
                let text = String(decoding: line.prefix(loggedLineLength), as: UTF8.self)
                observer.record(.log(LogLine(level: level, message: text, time: Date().timeIntervalSince1970, node: node)))
            } else if logged == loggedLinesLimit + 1 {
                observer.record(.log(LogLine(
                    level: .warn, message: "(further output of \(request.arguments[0]) is not logged; the first \(request.captureLimit) bytes are in its result)",
                    time: Date().timeIntervalSince1970, node: node)))
            }
        }
        for try await buffer in sequence {
            buffer.withUnsafeBytes { raw in
                let bytes = raw.bindMemory(to: UInt8.self)
                captured.total += bytes.count
                let room = request.captureLimit - captured.bytes.count
                if room > 0 { captured.bytes.append(contentsOf: bytes.prefix(room)) }
                guard logged <= loggedLinesLimit, let base = bytes.baseAddress else { return }
                var start = 0
                while start < bytes.count, let hit = memchr(base + start, 10, bytes.count - start) {
                    let nl = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                    if pending.isEmpty {
                        emit(ArraySlice(bytes[start..<nl]))
                    } else {
                        pending.append(contentsOf: bytes[start..<min(nl, start + loggedLineLength)])
                        emit(pending[...])
                        pending.removeAll(keepingCapacity: true)
                    }
                    start = nl + 1
                    if logged > loggedLinesLimit { return }
                }
                if pending.count < loggedLineLength, start < bytes.count {
                    pending.append(contentsOf: bytes[start..<min(bytes.count, start + loggedLineLength - pending.count)])
                }
            }
        }
        if !pending.isEmpty { emit(pending[...]) }
        return captured
    }
}
