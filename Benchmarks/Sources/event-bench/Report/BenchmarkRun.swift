import Foundation

/// Everything one invocation measured, with what is needed to report it.
struct BenchmarkRun: Sendable {
    let command: String
    let isQuick: Bool
    let durability: DurabilityChoice
    let started: Date
    let machine: MachineInfo
    var results: [WorkloadResult] = []
    var totalSeconds: Double = 0

    func result(_ workload: Workload, _ store: StoreKind) -> WorkloadResult? {
        results.first { $0.workload == workload && $0.store == store }
    }

    var workloads: [Workload] {
        Workload.allCases.filter { workload in results.contains { $0.workload == workload } }
    }

    /// Every figure of every workload, the log's next to SQLite's, in the order measured.
    var comparisons: [Comparison] { Comparison.rows(of: results) }

    /// `2026-11-27 03:16 UTC`.
    var dateText: String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'UTC'"
        return formatter.string(from: started)
    }

    var sizesText: String { isQuick ? "quick (scaled-down) sizes" : "full sizes" }
}

/// One figure on both stores.
struct Comparison: Sendable {
    let workload: Workload
    let figure: Figure
    let log: Double?
    let sqlite: Double?
    let note: String?

    /// log ÷ SQLite, when both were measured.
    var ratio: Double? {
        guard let log, let sqlite, sqlite > 0, log.isFinite, sqlite.isFinite else { return nil }
        return log / sqlite
    }

    /// How many times better the log engine is (> 1) or worse (< 1): log ÷ SQLite for figures
    /// where more is better, SQLite ÷ log where less is better.
    var advantage: Double? {
        guard let ratio, ratio > 0 else { return nil }
        return figure.direction == .higherIsBetter ? ratio : 1 / ratio
    }

    /// `12.3× faster`, `2.0× smaller`, `1.5× slower`.
    var verdict: String {
        guard let advantage else { return "n/a" }
        let (better, worse): (String, String)
        switch figure.unit {
        case "bytes", "MB": (better, worse) = ("smaller", "larger")
        case "x": (better, worse) = ("higher", "lower")
        default: (better, worse) = ("faster", "slower")
        }
        if abs(advantage - 1) < 0.005 { return "same" }
        return advantage >= 1 ? Format.ratio(advantage) + " " + better : Format.ratio(1 / advantage) + " " + worse
    }

    /// The figures of `results`, pairing each store's value of the same figure.
    static func rows(of results: [WorkloadResult]) -> [Comparison] {
        var rows: [Comparison] = []
        for workload in Workload.allCases {
            let log = results.first { $0.workload == workload && $0.store == .log }
            let sqlite = results.first { $0.workload == workload && $0.store == .sqlite }
            guard log != nil || sqlite != nil else { continue }
            var keys: [String] = []
            for figure in (log?.figures ?? []) + (sqlite?.figures ?? []) where !keys.contains(figure.key) {
                keys.append(figure.key)
            }
            for key in keys {
                guard let figure = log?.figure(key) ?? sqlite?.figure(key) else { continue }
                rows.append(
                    Comparison(
                        workload: workload, figure: figure, log: log?.value(key), sqlite: sqlite?.value(key),
                        note: log?.figure(key)?.note ?? sqlite?.figure(key)?.note))
            }
        }
        return rows
    }

    /// `W1 write (events/s)`.
    var title: String { "\(workload.rawValue) \(figure.label) (\(figure.unit == "x" ? "ratio" : figure.unit))" }
}
