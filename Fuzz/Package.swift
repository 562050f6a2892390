// swift-tools-version: 6.1
import PackageDescription

// The reliability harnesses of shared/spec/RELIABILITY.md (docs/RELIABILITY.md), in their own
// package so that the main build stays light: `make fuzz`, or `bash Fuzz/run.sh`.
//
// One executable, `reliability`, holds every harness (kill, fault, damage) and every libFuzzer
// target, built once with `-sanitize=fuzzer` (coverage instrumentation; libFuzzer's driver is only
// entered by `reliability fuzz TARGET`). The engine's modules are compiled here from the root
// package's sources (Sources/* are symbolic links), not imported from it: the fault layer plugs
// into `LogEventStore.Options.io`, which is `package`, and the fuzz targets reach the engine's
// internal decoders through `@testable import` (LogStore is built with `-enable-testing`).
// FUZZ_SANITIZERS=fuzzer,address adds AddressSanitizer.
let sanitizers = Context.environment["FUZZ_SANITIZERS"] ?? "fuzzer"
let instrumented: [SwiftSetting] = [.unsafeFlags(["-sanitize=\(sanitizers)"])]

let package = Package(
    name: "swift-event-sourcing-fuzz",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "reliability", targets: ["reliability"])
    ],
    dependencies: [
        // All are dependencies of the main package already.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "EventSourcingCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: instrumented),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4"),
        .target(name: "CChecksum"),
        .target(
            name: "LogStore",
            dependencies: [
                "EventSourcingCore", "CLZ4", "CChecksum", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: instrumented + [.unsafeFlags(["-enable-testing"])]),
        .target(
            name: "SQLiteStore",
            dependencies: [
                "EventSourcingCore", "CSQLite", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        .target(name: "EventSourcing", dependencies: ["EventSourcingCore", "LogStore", "SQLiteStore"]),
        .target(name: "CSpawn"),
        .target(
            name: "EventSourcingTestSupport", dependencies: ["EventSourcingCore", "LogStore", "CSpawn"],
            swiftSettings: instrumented),
        // The eventlog tool's --filter parser (Sources/eventlog/FilterExpression.swift), for its fuzz target.
        .target(
            name: "EventLogFilter",
            dependencies: ["EventSourcing", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: instrumented),
        .executableTarget(
            name: "reliability",
            dependencies: [
                "EventSourcingTestSupport", "EventLogFilter", "LogStore", "SQLiteStore", "EventSourcingCore",
            ],
            swiftSettings: instrumented,
            // The gold linker fails on this link (an internal error in its DWARF reader); lld does not.
            linkerSettings: [.unsafeFlags(["-use-ld=lld", "-sanitize=\(sanitizers)"])]),
    ],
    swiftLanguageModes: [.v6]
)
