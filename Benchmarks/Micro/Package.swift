// swift-tools-version: 6.1
import PackageDescription

// Micro-benchmarks of the log engine's hot paths (framing, checksums, key hashing, the key table),
// with ordo-one/benchmark: `swift package --package-path Benchmarks/Micro benchmark`, or
// `make bench-micro`. A package of its own, so that the main build and CI neither fetch nor build
// the benchmark tool and its dependencies.
//
// The engine's modules are compiled here from the root package's sources (Sources/* are symbolic
// links), as Fuzz/ does, not imported from it: the benchmarks reach the engine's internal encoders,
// decoders and indexes through `@testable import LogStore` (LogStore is built with `-enable-testing`).
let package = Package(
    name: "swift-event-sourcing-micro-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // Already a dependency of the main package.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // Already a dependency of the main package: the engine's modules count through CoreMetrics.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // Malloc counts through the malloc-interposer package. The other default trait,
        // RuntimeInterposer (ARC counts on Linux with Swift 6.3), stays off: no benchmark here
        // counts retains and releases, and its package would be one more to fetch.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(
            name: "EventSourcingCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
            ]),
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4"),
        .target(name: "CChecksum"),
        .target(
            name: "LogStore",
            dependencies: [
                "EventSourcingCore", "CLZ4", "CChecksum", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: [.unsafeFlags(["-enable-testing"])]),
        .executableTarget(
            name: "HotPaths",
            dependencies: ["EventSourcingCore", "LogStore", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/HotPaths",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ],
    swiftLanguageModes: [.v6]
)
