import Benchmark

extension Benchmark {
    /// Items per second, as custom metrics: the library's own throughput counts iterations (scaled
    /// only by powers of 1000), and most benchmarks here handle a batch per iteration.
    enum Rate {
        static let events = BenchmarkMetric.custom("events/s", polarity: .prefersLarger, useScalingFactor: false)
        static let bytes = BenchmarkMetric.custom("bytes/s", polarity: .prefersLarger, useScalingFactor: false)
        static let keys = BenchmarkMetric.custom("keys/s", polarity: .prefersLarger, useScalingFactor: false)

        /// Fixed units for the rates, so that two figures of the same benchmark keep three digits
        /// and compare at a glance (the automatic unit shows 11 or 12 G where it means 11.4).
        /// Computed: `BenchmarkUnits` is not `Sendable`, so it cannot be a stored static.
        static var units: [BenchmarkMetric: BenchmarkUnits] { [bytes: .mega, events: .kilo, keys: .kilo] }
    }

    /// Runs `body`, which handles `items` items, and records their rate (items per second) as
    /// `metric`, one of `Rate`'s. The clock is read around `body` only, so the rate covers the same
    /// work as the iteration's wall-clock time.
    /// - Returns: What `body` returns.
    func measureRate<Result>(_ metric: BenchmarkMetric, items: Int, _ body: () throws -> Result) rethrows -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let result = try body()
        let elapsed = start.duration(to: clock.now)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        if seconds > 0 { measurement(metric, Int((Double(items) / seconds).rounded())) }
        return result
    }
}
