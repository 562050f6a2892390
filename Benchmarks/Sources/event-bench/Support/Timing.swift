#if canImport(Glibc)
    import Glibc
#endif

/// Clock helpers. Durations within one process come from `ContinuousClock`; timestamps compared
/// across processes come from `CLOCK_MONOTONIC`, which is one clock for the whole machine and
/// never steps (unlike `CLOCK_REALTIME`).
enum Timing {
    static let clock = ContinuousClock()

    /// `duration` in seconds.
    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// `duration` in microseconds.
    static func microseconds(_ duration: Duration) -> Double { seconds(duration) * 1e6 }

    /// `duration` in milliseconds.
    static func milliseconds(_ duration: Duration) -> Double { seconds(duration) * 1e3 }

    /// Nanoseconds on `CLOCK_MONOTONIC` (`clock_gettime(2)`), comparable between processes.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// Runs `body` and returns how long it took.
    static func measure(_ body: () async throws -> Void) async rethrows -> Duration {
        let start = clock.now
        try await body()
        return clock.now - start
    }

    /// Runs `body`, a blocking call (the C reference loops), and returns how long it took.
    static func measureBlocking(_ body: () throws -> Void) rethrows -> Duration {
        let start = clock.now
        try body()
        return clock.now - start
    }
}

/// Percentiles of a set of samples (nearest rank).
struct LatencySummary: Sendable {
    let count: Int
    let p50: Double
    let p99: Double
    let max: Double

    /// Summarizes `samples`; all zero when there are none.
    init(_ samples: [Double]) {
        let sorted = samples.sorted()
        count = sorted.count
        func rank(_ fraction: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let index = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.min(Swift.max(index, 0), sorted.count - 1)]
        }
        p50 = rank(0.50)
        p99 = rank(0.99)
        max = sorted.last ?? 0
    }
}

/// A small seeded generator (SplitMix64), so every run draws the same numbers.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
