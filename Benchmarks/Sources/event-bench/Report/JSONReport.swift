import Foundation

/// `--json`: one object per workload per store with every figure, plus the run's context.
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
            ]
        }
        let targets: [[String: Any]] = TargetCheck.evaluate(run).map {
            ["target": $0.text, "reached": $0.reached, "met": $0.isMet.map { $0 as Any } ?? NSNull()]
        }
        let machine: [String: Any] = [
            "cpu": run.machine.cpuModel, "cores": run.machine.cores, "memory": run.machine.memory,
            "disk": run.machine.disk, "os": run.machine.operatingSystem, "kernel": run.machine.kernel,
            "swift": run.machine.swiftVersion, "source": run.machine.sourceRevision,
        ]
        let object: [String: Any] = [
            "date": run.dateText, "command": run.command, "quick": run.isQuick,
            "durability": run.durability.rawValue, "machine": machine, "total_s": run.totalSeconds,
            "results": results, "targets": targets,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
