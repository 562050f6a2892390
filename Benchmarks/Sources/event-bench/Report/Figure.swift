import Foundation

/// One measured number of one workload on one store.
struct Figure: Sendable {
    /// Whether a larger value is better (throughput) or a smaller one (latency, time, size).
    enum Direction: String, Sendable {
        case higherIsBetter = "higher"
        case lowerIsBetter = "lower"
    }

    /// Machine-readable name, unique within its workload: `write_events_per_s`.
    let key: String
    /// What a reader sees: `write`.
    let label: String
    /// `events/s`, `µs`, `ms`, `bytes`, `MB`, `x`.
    let unit: String
    /// `nil` when the figure could not be measured on this store (see `note`).
    let value: Double?
    let direction: Direction
    /// Whether the ratios to SQLite of this figure belong in the chart (ratios of ratios do not).
    let isCharted: Bool
    /// Why the value is missing, or how to read it.
    let note: String?

    init(
        _ key: String, _ label: String, _ unit: String, _ value: Double?, _ direction: Direction,
        isCharted: Bool = true, note: String? = nil
    ) {
        self.key = key
        self.label = label
        self.unit = unit
        self.value = value
        self.direction = direction
        self.isCharted = isCharted
        self.note = note
    }
}

/// The figures of one workload on one store.
struct WorkloadResult: Sendable {
    let workload: Workload
    let store: StoreKind
    var figures: [Figure]
    /// Sizes and settings this run used: `events: 1000000`.
    var parameters: [(String, String)]
    var notes: [String] = []
    var elapsedSeconds: Double = 0
    /// Why the workload does not apply to this store (`StoreKind.exclusion`); it then has no figures.
    var exclusion: String? = nil

    func figure(_ key: String) -> Figure? { figures.first { $0.key == key } }

    func value(_ key: String) -> Double? { figure(key)?.value }
}

/// Number formatting shared by the table, the report and the chart.
enum Format {
    /// `1234567.8` as `1,234,568`.
    static func grouped(_ value: Double) -> String {
        let rounded = Int64(value.rounded())
        let digits = String(rounded.magnitude)
        var result = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return rounded < 0 ? "-" + result : result
    }

    /// `value` with `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// A value in its unit's usual precision.
    static func value(_ value: Double?, unit: String) -> String {
        guard let value else { return "n/a" }
        switch unit {
        case "events/s": return grouped(value)
        case "µs": return value >= 100 ? grouped(value) : fixed(value, 1)
        case "ms": return value >= 100 ? grouped(value) : fixed(value, 2)
        case "bytes", "MB": return fixed(value, 1)
        case "x": return fixed(value, 2)
        default: return value == value.rounded() && abs(value) < 1e15 ? grouped(value) : fixed(value, 2)
        }
    }

    /// A ratio: `12.3×`, `0.42×`.
    static func ratio(_ value: Double?) -> String {
        guard let value, value.isFinite else { return "n/a" }
        if value >= 100 { return grouped(value) + "×" }
        if value >= 10 { return fixed(value, 1) + "×" }
        return fixed(value, 2) + "×"
    }
}
