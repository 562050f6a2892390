import EventSourcingTestSupport
import Foundation

/// Adds up the counts that runs printed (`fault.rounds 12`, ..., and `fuzz[frames].executions N`
/// lines from Fuzz/run.sh), for docs/RELIABILITY.md.
enum Summary {
    static func print(files: [String]) {
        var byHarness: [String: [String]] = [:]
        var fuzz: [String: Int] = [:]
        var seconds: [String: Double] = [:]
        for file in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").map(String.init) {
                if line.hasPrefix("== "), let name = line.split(separator: " ").dropFirst().first,
                    let time = line.split(separator: " ").first(where: { $0.hasPrefix("seconds=") }).flatMap({
                        Double($0.dropFirst(8))
                    })
                {
                    seconds[String(name), default: 0] += time
                } else if line.hasPrefix("fuzz["), let space = line.lastIndex(of: " "),
                    let value = Int(line[line.index(after: space)...])
                {
                    fuzz[String(line[..<space]), default: 0] += value
                } else if let dot = line.firstIndex(of: "."),
                    ["fault", "damage", "kill", "enumerate"].contains(String(line[..<dot]))
                        || line[..<dot].hasPrefix("subscription-") || line[..<dot].hasPrefix("compaction-")
                {
                    byHarness[String(line[..<dot]), default: []].append(String(line[line.index(after: dot)...]))
                }
            }
        }
        var total = HarnessCounters()
        for (name, lines) in byHarness.sorted(by: { $0.key < $1.key }) {
            let counters = HarnessCounters(lines: lines)
            total.merge(counters)
            Swift.print("== \(name) (\(String(format: "%.0f", seconds[name] ?? 0)) s)")
            for line in counters.lines { Swift.print("  \(line)") }
        }
        for (key, value) in fuzz.sorted(by: { $0.key < $1.key }) { Swift.print("\(key) \(value)") }
        Swift.print("== all harnesses (\(String(format: "%.0f", seconds.values.reduce(0, +) )) s)")
        for line in total.lines { Swift.print("  \(line)") }
    }
}
