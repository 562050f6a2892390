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
        emit("event-bench: \(run.sizesText); durability \(run.durability.description)")
        emit(
            "machine: \(run.machine.cpuModel), \(run.machine.cores) cores, \(run.machine.memory); \(run.machine.operatingSystem)"
        )
        emit("")
    }

    static func printWorkload(_ workload: Workload, results: [WorkloadResult]) {
        emit("\(workload.rawValue)  \(workload.title)")
        emit(
            "  " + pad("figure", 52) + pad("log", 16, right: true) + pad("SQLite", 16, right: true)
                + pad("log/SQLite", 12, right: true) + "  log is")
        for row in Comparison.rows(of: results) {
            let unit = row.figure.unit
            emit(
                "  " + pad("\(row.figure.label) (\(unit))", 52)
                    + pad(Format.value(row.log, unit: unit), 16, right: true)
                    + pad(Format.value(row.sqlite, unit: unit), 16, right: true)
                    + pad(Format.ratio(row.ratio), 12, right: true) + "  " + row.verdict)
        }
        for result in results {
            for note in result.notes { emit("  [\(result.store.rawValue)] \(note)") }
            emit("  [\(result.store.rawValue)] took \(Format.fixed(result.elapsedSeconds, 1)) s")
        }
        emit("")
    }

    static func printTargets(_ run: BenchmarkRun) {
        emit("Targets (log engine)\(run.isQuick ? ", quick sizes: indicative only" : "")")
        for check in TargetCheck.evaluate(run) where run.workloads.contains(check.workload) {
            emit("  " + pad(check.status, 14) + pad(check.text, 62) + check.reached)
        }
        emit("")
    }
}
