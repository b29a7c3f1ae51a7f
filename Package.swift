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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
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
        // Scheduler, tasks, primitives, steps, subprocesses and the Lua API of flows.
        .target(
            name: "TideEngine",
            dependencies: [
                "LuaBridge",
                "TideLua",
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: releaseSpeed
        ),
        // The executable: argument parsing, composition root, output.
        .executableTarget(
            name: "tide",
            dependencies: [
                "TideEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "LuaBridgeTests", dependencies: ["LuaBridge"]),
        .testTarget(name: "TideEngineTests", dependencies: ["TideEngine"]),
        .testTarget(name: "TideCLITests", dependencies: [.target(name: "tide")]),
    ],
    swiftLanguageModes: [.v6]
)
