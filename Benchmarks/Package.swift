// swift-tools-version: 6.1
import PackageDescription

// The benchmark runner of shared/spec/BENCHMARKS.md, in its own package so that the main build
// stays light: `swift build -c release --package-path Benchmarks`, or `make bench`.
let package = Package(
    name: "swift-event-sourcing-benchmarks",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "event-bench", targets: ["event-bench"])
    ],
    dependencies: [
        .package(name: "swift-event-sourcing", path: ".."),
        // Already a dependency of the main package, so nothing new is fetched.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Also already there (the PostgreSQL store's client): the runner asks the benchmark server
        // for its durability settings and a schema's size on a connection of its own.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // The machine's reference (issue 17): a plain C loop over a minimal checksummed log of W1's
        // events, and a bare fdatasync of one small append, measured in the same run as the stores.
        .target(name: "CLogLoop"),
        .executableTarget(
            name: "event-bench",
            dependencies: [
                .product(name: "EventSourcing", package: "swift-event-sourcing"),
                // The third column: PostgresEventStore, measured when EVENTSOURCING_POSTGRES_URL is set.
                .product(name: "EventSourcingPostgres", package: "swift-event-sourcing"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                "CLogLoop",
            ]
        )
    ],
    swiftLanguageModes: [.v6]
)
