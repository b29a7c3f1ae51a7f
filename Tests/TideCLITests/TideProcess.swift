// Runs the built `tide` binary as a child process and captures what it printed.
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What one invocation of the `tide` binary produced.
struct TideOutput: Sendable {
    /// The exit status (or the signal number when `signaled`).
    var status: Int32
    /// True when the process ended by a signal instead of exiting.
    var signaled: Bool
    /// True when the process outlived its time limit and was killed.
    var timedOut: Bool
    var stdout: String
    var stderr: String
    /// Wall-clock time from launch to exit.
    var duration: Duration

    /// Standard output and standard error together, for assertions that do not care which.
    var combined: String { stdout + "\n" + stderr }

    /// Standard output parsed as exactly one JSON value (fails on any other text).
    func json() throws -> JSONValue { try JSONValue.parse(stdout) }
}

/// Finds and runs `<package root>/.build/debug/tide`.
enum TideProcess {
    /// Raised when the binary has not been built.
    struct MissingBinary: Error, CustomStringConvertible {
        var path: String
        var description: String {
            "no tide binary at \(path): run `swift build --product tide` before `swift test`"
        }
    }

    /// The package root, derived from this file's location (Tests/TideCLITests/TideProcess.swift).
    static let packageRoot: URL = URL(filePath: #filePath)
        .deletingLastPathComponent()  // TideCLITests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // package root

    /// `.build/debug/tide`, or `$TIDE_TEST_BINARY` (to run the tests against another build, such
    /// as the code before a fix).
    static var binary: URL {
        get throws {
            let url = ProcessInfo.processInfo.environment["TIDE_TEST_BINARY"].map { URL(fileURLWithPath: $0) }
                ?? packageRoot.appending(path: ".build/debug/tide")
            guard FileManager.default.isExecutableFile(atPath: url.path) else {
                throw MissingBinary(path: url.path)
            }
            return url
        }
    }

    /// Runs `tide arguments...` in `directory` and waits for it to exit; a `launcher` (e.g.
    /// `setpriv --reuid=nobody ...`) runs first and execs tide.
    ///
    /// The environment is the test process's, with `TIDE_HOME` set to `directory` and `extraEnvironment`
    /// merged over it. If the process is still running after `timeout`, it is killed (SIGKILL) and an
    /// issue is recorded against the calling test.
    static func run(
        _ arguments: [String],
        in directory: URL,
        environment extraEnvironment: [String: String] = [:],
        timeout: Duration = .seconds(30),
        niceness: Int = 0,
        launcher: [String] = [],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TideOutput {
        let fm = FileManager.default
        // Output goes to files, not pipes: nothing can fill up and block the child, and
        // grandchildren that inherited the descriptors cannot keep us waiting for EOF.
        let capture = fm.temporaryDirectory.appending(path: "tide-capture-\(UUID().uuidString)")
        try fm.createDirectory(at: capture, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: capture) }
        let outURL = capture.appending(path: "stdout")
        let errURL = capture.appending(path: "stderr")
        _ = fm.createFile(atPath: outURL.path, contents: nil)
        _ = fm.createFile(atPath: errURL.path, contents: nil)
        let outHandle = try FileHandle(forWritingTo: outURL)
        defer { try? outHandle.close() }
        let errHandle = try FileHandle(forWritingTo: errURL)
        defer { try? errHandle.close() }

        var environment = ProcessInfo.processInfo.environment
        environment["TIDE_HOME"] = directory.path
        environment["NO_COLOR"] = "1"
        environment.merge(extraEnvironment) { _, new in new }

        let process = Process()
        var command = launcher
        if niceness > 0 {
            // at a lower CPU priority (every thread): for commands that spin on purpose, so they
            // do not starve the timing tests that run beside them
            command += ["/usr/bin/nice", "-n", String(niceness)]
        }
        command += [try binary.path] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.currentDirectoryURL = directory
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = outHandle
        process.standardError = errHandle

        struct Exit: Sendable { var status: Int32; var signaled: Bool }
        let (exits, exitContinuation) = AsyncStream.makeStream(of: Exit.self)
        process.terminationHandler = { p in
            exitContinuation.yield(Exit(status: p.terminationStatus, signaled: p.terminationReason == .uncaughtSignal))
            exitContinuation.finish()
        }

        let clock = ContinuousClock()
        let start = clock.now
        try ChildLauncher.run(process)
        let pid = process.processIdentifier

        enum Outcome: Sendable { case exited(Exit), killedAfterTimeout }
        var exit = Exit(status: -1, signaled: false)
        var timedOut = false
        await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                for await e in exits { return .exited(e) }
                return nil
            }
            group.addTask {
                do { try await Task.sleep(for: timeout) } catch { return nil }  // cancelled: it exited
                kill(pid, SIGKILL)
                return .killedAfterTimeout
            }
            for await outcome in group {
                switch outcome {
                case .exited(let e)?:
                    exit = e
                    group.cancelAll()  // stops the watchdog
                case .killedAfterTimeout?:
                    timedOut = true
                case nil:
                    break
                }
            }
        }
        let duration = clock.now - start

        let output = TideOutput(
            status: exit.status,
            signaled: exit.signaled,
            timedOut: timedOut,
            stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self),
            duration: duration
        )
        if timedOut {
            Issue.record(
                "tide \(arguments.joined(separator: " ")) did not exit within \(timeout); killed it. stderr: \(output.stderr.prefix(2000))",
                sourceLocation: sourceLocation)
        }
        return output
    }
}
