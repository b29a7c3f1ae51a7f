// swift-tools-version: 6.2
// tide: an automation daemon that runs Lua flows with real concurrency.
import PackageDescription

// The scheduler's hot path touches its task table a few dozen times per task; dynamic
// exclusivity checks on those class-property accesses cost ~7% of a 100k-task fan-out. Debug
// builds (and so every test run) keep the checks.
let releaseSpeed: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "tide",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tide", targets: ["tide"]),
        .library(name: "TideEngine", targets: ["TideEngine"]),
        .library(name: "TideSchedule", targets: ["TideSchedule"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // The system Lua 5.4 (Debian: liblua5.4-dev).
        .systemLibrary(
            name: "CLua",
            pkgConfig: "lua5.4",
            providers: [.apt(["liblua5.4-dev"])]
        ),
        // C trampolines: every lua_error / lua_yield happens here, never in a Swift frame.
        .target(name: "CLuaShim", dependencies: ["CLua"]),
        // The engine's Lua sources (prelude, json), embedded into the binary with #embed.
        .target(name: "TideLua", exclude: ["lua"]),
        // The only Swift module that touches the Lua C API.
        .target(
            name: "LuaBridge",
            dependencies: ["CLua", "CLuaShim"],
            swiftSettings: releaseSpeed
        ),
        // Linux system calls the Glibc module lacks: timerfd (wall-clock timers that notice clock
        // jumps) and eventfd, for the scheduler's wake-ups.
        .target(name: "CTideSys"),
        // The control protocol's messages and the shapes of runs, steps and logs (no Lua).
        .target(name: "TideProtocol"),
        // Scheduler, tasks, primitives, steps, subprocesses and the Lua API of flows.
        .target(
            name: "TideEngine",
            dependencies: [
                "LuaBridge",
                "TideProtocol",
                "TideLua",
                "TideSchedule",
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: releaseSpeed
        ),
        // Cron expressions, time zones and daylight saving: the pure planner of next starts (Foundation only).
        .target(name: "TideSchedule", swiftSettings: releaseSpeed),
        // Run history, logs and the key-value store, behind a protocol (SQLite through GRDB).
        .target(
            name: "TideStore",
            dependencies: ["TideProtocol", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        // The daemon's services: watcher and reload, run queue, control server.
        .target(
            name: "TideDaemon",
            dependencies: [
                "TideEngine", "TideStore", "TideProtocol", "TideSchedule", "CTideSys",
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The executable: argument parsing, composition root, client commands, output.
        .executableTarget(
            name: "tide",
            dependencies: [
                "TideEngine", "TideDaemon", "TideProtocol", "TideSchedule",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Times next-start computation for scripts/bench-schedule (make bench); not installed.
        .executableTarget(
            name: "tide-bench-schedule",
            dependencies: ["TideSchedule"],
            path: "Benchmarks/ScheduleBench",
            swiftSettings: releaseSpeed
        ),
        .testTarget(name: "LuaBridgeTests", dependencies: ["LuaBridge"]),
        // A real HTTP server on loopback (NIO, optional TLS) for the http tests and benchmark.
        .target(
            name: "HTTPTestServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tests/HTTPTestServer"
        ),
        // The server of scripts/bench-http (built in release by the script).
        .executableTarget(name: "tide-bench-http-server", dependencies: ["HTTPTestServer"], path: "Benchmarks/HTTPServer"),
        .testTarget(name: "TideEngineTests", dependencies: ["TideEngine", "HTTPTestServer"]),
        .testTarget(name: "TideStoreTests", dependencies: ["TideStore"]),
        .testTarget(name: "TideProtocolTests", dependencies: ["TideProtocol"]),
        .testTarget(name: "TideScheduleTests", dependencies: ["TideSchedule"]),
        .testTarget(
            name: "TideDaemonTests",
            dependencies: [
                "TideDaemon", "TideProtocol", "TideEngine",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "TideCLITests", dependencies: [.target(name: "tide"), "HTTPTestServer"]),
    ],
    swiftLanguageModes: [.v6]
)

// `make fuzz` (TIDE_FUZZ=1): the libFuzzer targets of Fuzz/ and only the pure modules they test,
// without the package's dependencies, so `swift build` and `swift test` never see them and the
// fuzz build resolves nothing. The Lua targets are C programs (Fuzz/lua/, built by the Makefile).
if Context.environment["TIDE_FUZZ"] == "1" {
    package.dependencies = []
    package.products = []
    package.targets = [
        .target(name: "TideProtocol"),
        .target(name: "TideSchedule"),
        // libFuzzer's LLVMFuzzerRunDriver, which each target's top level calls (SwiftPM owns main).
        .target(name: "CFuzzDriver", path: "Fuzz/CFuzzDriver"),
        // JSON text of one request line, batches and RPCRequest(validating:), as ControlServer reads them.
        .executableTarget(name: "RPCFuzz", dependencies: ["TideProtocol", "CFuzzDriver"], path: "Fuzz/RPCFuzz"),
        // Schedule.parse in a zone, then next(after:) and starts(after:count:).
        .executableTarget(name: "CronFuzz", dependencies: ["TideSchedule", "CFuzzDriver"], path: "Fuzz/CronFuzz"),
        // The command line's parseDuration (Sources/tide/ParseDuration.swift, linked into the folder).
        .executableTarget(name: "DurationFuzz", dependencies: ["CFuzzDriver"], path: "Fuzz/DurationFuzz"),
    ]
}
