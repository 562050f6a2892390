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
    /// Whether the PostgreSQL column was measured, and against which server.
    var postgres: PostgresColumn = .notSelected

    func result(_ workload: Workload, _ store: StoreKind) -> WorkloadResult? {
        results.first { $0.workload == workload && $0.store == store }
    }

    var workloads: [Workload] {
        Workload.allCases.filter { workload in results.contains { $0.workload == workload } }
    }

    /// Every figure of every workload, the log's and PostgreSQL's next to SQLite's, in the order measured.
    var comparisons: [Comparison] { Comparison.rows(of: results) }

    /// Whether any workload ran on PostgreSQL (the third column is shown).
    var hasPostgres: Bool { results.contains { $0.store == .postgres } }

    /// The durability each store ran at: `log .fsync vs SQLite synchronous=FULL vs PostgreSQL fsync=on
    /// synchronous_commit=on`.
    var durabilityText: String {
        guard case .measured(let settings) = postgres else { return durability.description }
        return durability.description + " vs PostgreSQL fsync=\(settings.fsync) synchronous_commit="
            + settings.synchronousCommit
    }

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

/// The PostgreSQL column of a run.
enum PostgresColumn: Sendable {
    /// `--stores` left it out.
    case notSelected
    /// Selected but not measured: no server was given, or it could not be reached.
    case skipped(reason: String)
    /// Measured against a server with these settings.
    case measured(PostgresServer.Settings)

    /// The line the console and the report print about the column.
    var summary: String {
        switch self {
        case .notSelected: return "PostgreSQL column: not selected (--stores)"
        case .skipped(let reason): return "PostgreSQL column skipped: \(reason)"
        case .measured(let settings):
            return "PostgreSQL column: \(settings.description), wal_sync_method=\(settings.walSyncMethod), "
                + "full_page_writes=\(settings.fullPageWrites)"
        }
    }
}

/// One figure on every store, with the ratios to SQLite.
struct Comparison: Sendable {
    let workload: Workload
    let figure: Figure
    let log: Double?
    let sqlite: Double?
    let postgres: Double?
    /// Whether the workload does not apply to PostgreSQL (its cell shows a dash, not `n/a`).
    let isPostgresExcluded: Bool
    let note: String?

    /// log ÷ SQLite, when both were measured.
    var ratio: Double? { Self.ratio(log, sqlite) }

    /// PostgreSQL ÷ SQLite, when both were measured.
    var postgresRatio: Double? { Self.ratio(postgres, sqlite) }

    /// How many times better the log engine is (> 1) or worse (< 1): log ÷ SQLite for figures
    /// where more is better, SQLite ÷ log where less is better.
    var advantage: Double? { advantage(of: ratio) }

    /// The same for PostgreSQL against SQLite.
    var postgresAdvantage: Double? { advantage(of: postgresRatio) }

    /// `12.3× faster`, `2.0× smaller`, `1.5× slower`: the log engine against SQLite.
    var verdict: String { verdict(of: advantage) }

    /// The same for PostgreSQL against SQLite.
    var postgresVerdict: String { verdict(of: postgresAdvantage) }

    private static func ratio(_ value: Double?, _ sqlite: Double?) -> Double? {
        guard let value, let sqlite, sqlite > 0, value.isFinite, sqlite.isFinite else { return nil }
        return value / sqlite
    }

    private func advantage(of ratio: Double?) -> Double? {
        guard let ratio, ratio > 0 else { return nil }
        return figure.direction == .higherIsBetter ? ratio : 1 / ratio
    }

    private func verdict(of advantage: Double?) -> String {
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

    /// The PostgreSQL cell: the value, `n/a` when not measured, `—` when the workload does not apply.
    func postgresCell() -> String {
        isPostgresExcluded ? "—" : Format.value(postgres, unit: figure.unit)
    }

    /// The figures of `results`, pairing each store's value of the same figure.
    static func rows(of results: [WorkloadResult]) -> [Comparison] {
        var rows: [Comparison] = []
        for workload in Workload.allCases {
            let log = results.first { $0.workload == workload && $0.store == .log }
            let sqlite = results.first { $0.workload == workload && $0.store == .sqlite }
            let postgres = results.first { $0.workload == workload && $0.store == .postgres }
            guard log != nil || sqlite != nil || postgres != nil else { continue }
            var keys: [String] = []
            for figure in (log?.figures ?? []) + (sqlite?.figures ?? []) + (postgres?.figures ?? [])
            where !keys.contains(figure.key) {
                keys.append(figure.key)
            }
            for key in keys {
                guard let figure = log?.figure(key) ?? sqlite?.figure(key) ?? postgres?.figure(key) else { continue }
                rows.append(
                    Comparison(
                        workload: workload, figure: figure, log: log?.value(key), sqlite: sqlite?.value(key),
                        postgres: postgres?.value(key), isPostgresExcluded: postgres?.exclusion != nil,
                        note: log?.figure(key)?.note ?? sqlite?.figure(key)?.note ?? postgres?.figure(key)?.note))
            }
        }
        return rows
    }

    /// `W1 write (events/s)`.
    var title: String { "\(workload.rawValue) \(figure.label) (\(figure.unit == "x" ? "ratio" : figure.unit))" }
}
