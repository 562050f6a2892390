import Foundation

/// The plain-text table printed while the run goes (figures on stdout, progress on stderr).
enum ConsoleTable {
    static func progress(_ line: String) {
        FileHandle.standardError.write(Data(("# " + line + "\n").utf8))
    }

    private static func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    private static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let count = text.count
        guard count < width else { return text }
        let padding = String(repeating: " ", count: width - count)
        return right ? padding + text : text + padding
    }

    static func printHeader(_ run: BenchmarkRun) {
        emit("event-bench: \(run.sizesText); durability \(run.durabilityText)")
        emit(
            "machine: \(run.machine.cpuModel), \(run.machine.cores) cores, \(run.machine.memory); \(run.machine.operatingSystem)"
        )
        if case .notSelected = run.postgres {} else { emit(run.postgres.summary) }
        emit("")
    }

    static func printWorkload(_ workload: Workload, results: [WorkloadResult]) {
        let hasPostgres = results.contains { $0.store == .postgres }
        emit("\(workload.rawValue)  \(workload.title)")
        var header =
            "  " + pad("figure", 52) + pad("log", 16, right: true) + pad("SQLite", 16, right: true)
        if hasPostgres { header += pad("PostgreSQL", 16, right: true) }
        header += pad("log/SQLite", 12, right: true)
        if hasPostgres { header += pad("PG/SQLite", 12, right: true) }
        emit(header + "  log is")
        for row in Comparison.rows(of: results) {
            let unit = row.figure.unit
            var line =
                "  " + pad("\(row.figure.label) (\(unit))", 52)
                + pad(Format.value(row.log, unit: unit), 16, right: true)
                + pad(Format.value(row.sqlite, unit: unit), 16, right: true)
            if hasPostgres { line += pad(row.postgresCell(), 16, right: true) }
            line += pad(Format.ratio(row.ratio), 12, right: true)
            if hasPostgres { line += pad(Format.ratio(row.postgresRatio), 12, right: true) }
            emit(line + "  " + row.verdict)
        }
        for result in results {
            if let exclusion = result.exclusion {
                emit("  [\(result.store.rawValue)] \(exclusion)")
                continue
            }
            for note in result.notes { emit("  [\(result.store.rawValue)] \(note)") }
            emit("  [\(result.store.rawValue)] took \(Format.fixed(result.elapsedSeconds, 1)) s")
        }
        emit("")
    }

    static func printTargets(_ run: BenchmarkRun) {
        let quick = run.isQuick ? ", quick sizes: indicative only" : ""
        emit("Targets (log engine)\(quick)")
        for check in TargetCheck.shown(run, store: .log) {
            emit("  " + pad(check.status, 14) + pad(check.text, 62) + check.reached)
        }
        emit("")
        guard run.hasPostgres else {
            if case .skipped = run.postgres { emit(run.postgres.summary) }
            return
        }
        emit("Targets (PostgreSQL store)\(quick)")
        for check in TargetCheck.shown(run, store: .postgres) {
            emit("  " + pad(check.status, 14) + pad(check.text, 62) + check.reached)
        }
        emit("  reference: \(PostgresPeer.name): \(PostgresPeer.summary)")
        emit("")
    }
}
