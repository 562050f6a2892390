// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "swift-event-sourcing",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EventSourcing", targets: ["EventSourcing"]),
        .executable(name: "eventlog", targets: ["eventlog"]),
        .executable(name: "bank-example", targets: ["bank-example"]),
        // The PostgreSQL store, a product of its own so that embedders of the file stores never
        // build a network stack.
        .library(name: "EventSourcingPostgres", targets: ["EventSourcingPostgres"]),
    ],
    dependencies: [
        // Logging without printing: stores accept a Logger in their options (STYLE.md).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The eventlog command line: subcommands, options, --help with examples.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The PostgreSQL store's client: an async/await, pooled, non-blocking client with LISTEN/NOTIFY.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Metrics (writes, events, latencies, watch lag) that cost nothing until an application
        // bootstraps a backend; postgres-nio depends on it already.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        // `swift package generate-documentation` (and preview-documentation): `make docs` converts
        // the catalogs with it, handing it EventSourcing's re-export-aware symbol graph
        // (scripts/build-docs.sh). A command plugin: nothing of it is linked into the products.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(
            name: "EventSourcing",
            dependencies: ["EventSourcingCore", "LogStore", "SQLiteStore"]
        ),
        .target(
            name: "EventSourcingCore",
            dependencies: [
                .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite"),
        // Debian's liblz4-dev compresses snapshot state and large batches.
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4"),
        // The engine's C helpers: CRC-32C with SSE4.2 (crc32c.c) and a cache prefetch hint (cprefetch.h).
        .target(name: "CChecksum"),
        .target(
            name: "LogStore",
            dependencies: [
                "EventSourcingCore", "CLZ4", "CChecksum", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "SQLiteStore",
            dependencies: [
                "EventSourcingCore", "CSQLite", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "EventSourcingPostgres",
            dependencies: [
                "EventSourcingCore", .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .executableTarget(
            name: "eventlog",
            dependencies: [
                "EventSourcing", "EventSourcingPostgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A small bank on the public API, built and run by the tests so that it never rots.
        .executableTarget(name: "bank-example", dependencies: ["EventSourcing"]),
        // README.md's quick start, exactly: the tests compare the two and run it.
        .executableTarget(name: "quick-start", dependencies: ["EventSourcing"]),
        // Test support shared by tests and Fuzz/: the fault-injecting FileIO layer, the workload
        // and invariant checker of the crash-recovery harnesses (shared/spec/RELIABILITY.md).
        .target(name: "EventSourcingTestSupport", dependencies: ["EventSourcingCore", "LogStore", "CSpawn"]),
        // posix_spawn's GNU extensions (chdir, closefrom) for the tests' child processes.
        .target(name: "CSpawn"),
        .testTarget(name: "EventSourcingCoreTests", dependencies: ["EventSourcingCore"]),
        .testTarget(
            name: "ConformanceTests",
            dependencies: [
                "EventSourcing", "EventSourcingPostgres", "EventSourcingTestSupport",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]),
        .testTarget(
            name: "SQLiteStoreTests", dependencies: ["EventSourcing", "SQLiteStore", "EventSourcingTestSupport"]),
        .testTarget(
            name: "LogStoreTests",
            dependencies: [
                "EventSourcing", "LogStore", "EventSourcingTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Runs the built eventlog executable as a subprocess.
        .testTarget(
            name: "EventLogTests",
            dependencies: ["eventlog", "bank-example", "quick-start", "EventSourcing", "EventSourcingPostgres", "EventSourcingTestSupport"]),
        .testTarget(
            name: "PostgresStoreTests", dependencies: ["EventSourcing", "EventSourcingPostgres", "EventSourcingTestSupport"]),
        .testTarget(name: "ReliabilityTests", dependencies: ["EventSourcingTestSupport", "EventSourcing"]),
    ],
    swiftLanguageModes: [.v6]
)
