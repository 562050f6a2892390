import Foundation

/// `--json`: one object per workload per store with every figure, plus the run's context (the
/// PostgreSQL server's settings and the peer's figures among it).
enum JSONReport {
    static func text(_ run: BenchmarkRun) throws -> String {
        let results: [[String: Any]] = run.results.map { result in
            var figures: [String: Any] = [:]
            var units: [String: Any] = [:]
            for figure in result.figures {
                figures[figure.key] = figure.value.map { $0 as Any } ?? NSNull()
                units[figure.key] = figure.unit
            }
            var parameters: [String: Any] = [:]
            for (name, value) in result.parameters { parameters[name] = value }
            return [
                "workload": result.workload.rawValue, "store": result.store.rawValue,
                "title": result.workload.title, "figures": figures, "units": units,
                "parameters": parameters, "notes": result.notes, "elapsed_s": result.elapsedSeconds,
                "does_not_apply": result.exclusion.map { $0 as Any } ?? NSNull(),
            ]
        }
        let targets: [[String: Any]] = TargetCheck.evaluate(run).map {
            [
                "store": $0.store.rawValue, "target": $0.text, "reached": $0.reached,
                "met": $0.isMet.map { $0 as Any } ?? NSNull(),
            ]
        }
        let machine: [String: Any] = [
            "cpu": run.machine.cpuModel, "cores": run.machine.cores, "memory": run.machine.memory,
            "disk": run.machine.disk, "os": run.machine.operatingSystem, "kernel": run.machine.kernel,
            "swift": run.machine.swiftVersion, "source": run.machine.sourceRevision,
        ]
        var postgres: [String: Any] = ["summary": run.postgres.summary]
        if case .measured(let settings) = run.postgres {
            postgres["server_version"] = settings.version
            postgres["fsync"] = settings.fsync
            postgres["synchronous_commit"] = settings.synchronousCommit
            postgres["wal_sync_method"] = settings.walSyncMethod
            postgres["full_page_writes"] = settings.fullPageWrites
        }
        postgres["peer"] = [
            "name": PostgresPeer.name,
            "figures": PostgresPeer.references.map {
                ["label": $0.label, "events_per_s": $0.eventsPerSecond, "compared_with": $0.ours] as [String: Any]
            },
        ] as [String: Any]
        let object: [String: Any] = [
            "date": run.dateText, "command": run.command, "quick": run.isQuick,
            "durability": run.durability.rawValue, "machine": machine, "total_s": run.totalSeconds,
            "results": results, "targets": targets, "postgres": postgres,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
