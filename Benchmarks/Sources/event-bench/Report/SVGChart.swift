import Foundation

/// `--svg`: a horizontal bar chart, one bar per figure, of how many times better the log engine
/// is than SQLite, on a log scale around a line at 1×; when the run measured PostgreSQL, a thinner
/// blue bar under each shows the PostgreSQL store against SQLite. Hand-written SVG, no dependencies.
enum SVGChart {
    private static let width = 1000.0
    private static let labelRight = 350.0
    private static let plotLeft = 362.0
    private static let plotRight = 900.0
    private static let top = 108.0
    private static let better = "#2e8b57"
    private static let worse = "#c0392b"
    private static let postgresBetter = "#2c5aa0"
    private static let postgresWorse = "#9dbbe3"

    static func text(_ run: BenchmarkRun) -> String {
        let hasPostgres = run.hasPostgres
        let rowHeight = hasPostgres ? 32.0 : 24.0
        let barHeight = hasPostgres ? 12.0 : 14.0
        let postgresBarHeight = 7.0
        let rows = run.comparisons.filter { $0.figure.isCharted }
        let advantages = rows.compactMap(\.advantage) + (hasPostgres ? rows.compactMap(\.postgresAdvantage) : [])
        let smallest = advantages.min().map { min($0, 1) } ?? 1
        let largest = advantages.max().map { max($0, 1) } ?? 1
        let low = min(0.1, pow(10, (log10(smallest / 3)).rounded(.down)))
        let high = max(10, pow(10, (log10(largest * 2)).rounded(.up)))
        func x(_ value: Double) -> Double {
            plotLeft + (log10(value) - log10(low)) / (log10(high) - log10(low)) * (plotRight - plotLeft)
        }
        let plotBottom = top + Double(rows.count) * rowHeight
        let height = plotBottom + 78
        var svg: [String] = []
        func add(_ line: String) { svg.append(line) }
        add(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
                + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"Helvetica, Arial, sans-serif\">")
        add("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>")
        let title =
            hasPostgres
            ? "LogEventStore and PostgresEventStore vs SQLiteEventStore: how many times better"
            : "LogEventStore vs SQLiteEventStore: how many times better the log engine is"
        add(text(width / 2, 30, title, size: 19, weight: "bold", anchor: "middle"))
        let machine = "\(run.machine.cpuModel), \(run.machine.cores) cores"
        add(
            text(
                width / 2, 52, "\(run.durabilityText) · \(run.sizesText) · \(run.dateText) · \(machine)",
                size: 12, fill: "#555555", anchor: "middle"))
        // Legend.
        let legendY = 76.0
        var legend = [(better, "log engine better (> 1×)"), (worse, "SQLite better (< 1×)")]
        if hasPostgres {
            legend += [
                (postgresBetter, "PostgreSQL better than SQLite"), (postgresWorse, "SQLite better than PostgreSQL"),
            ]
        }
        let legendWidth = hasPostgres ? 225.0 : 210.0
        for (index, (color, label)) in legend.enumerated() {
            let left = width / 2 - legendWidth * Double(legend.count) / 2 + legendWidth * Double(index) + 20
            add(
                "<rect x=\"\(fmt(left))\" y=\"\(fmt(legendY - 10))\" width=\"12\" height=\"12\" fill=\"\(color)\"/>")
            add(text(left + 18, legendY, label, size: 12))
        }
        // Bands, one per workload, so the groups read apart.
        var index = 0
        var bandIndex = 0
        while index < rows.count {
            let workload = rows[index].workload
            var end = index
            while end < rows.count && rows[end].workload == workload { end += 1 }
            if bandIndex % 2 == 0 {
                add(
                    "<rect x=\"8\" y=\"\(fmt(top + Double(index) * rowHeight))\" width=\"\(fmt(width - 16))\" "
                        + "height=\"\(fmt(Double(end - index) * rowHeight))\" fill=\"#f2f4f7\"/>")
            }
            bandIndex += 1
            index = end
        }
        // Grid: a line per power of ten, minor lines at 2× and 5×.
        var decade = low
        while decade <= high * 1.0001 {
            for step in [1.0, 2.0, 5.0] {
                let value = decade * step
                guard value <= high * 1.0001, value >= low * 0.9999 else { continue }
                let isMajor = step == 1
                add(
                    "<line x1=\"\(fmt(x(value)))\" y1=\"\(fmt(top - 4))\" x2=\"\(fmt(x(value)))\" y2=\"\(fmt(plotBottom))\" "
                        + "stroke=\"\(isMajor ? "#c8ccd2" : "#e3e6ea")\" stroke-width=\"1\"/>")
                if isMajor || (high / low <= 1000) {
                    add(
                        text(
                            x(value), plotBottom + 16, axisLabel(value), size: isMajor ? 12 : 10,
                            fill: isMajor ? "#333333" : "#888888", anchor: "middle"))
                }
            }
            decade *= 10
        }
        // Bars.
        for (position, row) in rows.enumerated() {
            let rowTop = top + Double(position) * rowHeight
            let rowMiddle = rowTop + rowHeight / 2
            add(text(labelRight, rowMiddle + 4, row.title, size: 12, anchor: "end"))
            if hasPostgres {
                let middle = rowMiddle + 8
                if let advantage = row.postgresAdvantage {
                    let clamped = min(max(advantage, low), high)
                    let start = min(x(1), x(clamped))
                    let barWidth = max(abs(x(clamped) - x(1)), 1.5)
                    add(
                        "<rect x=\"\(fmt(start))\" y=\"\(fmt(middle - postgresBarHeight / 2))\" "
                            + "width=\"\(fmt(barWidth))\" height=\"\(fmt(postgresBarHeight))\" "
                            + "fill=\"\(advantage >= 1 ? postgresBetter : postgresWorse)\"/>")
                    let label = "PG " + Format.ratio(advantage)
                    if advantage >= 1 {
                        add(text(start + barWidth + 5, middle + 3.5, label, size: 10, fill: postgresBetter))
                    } else {
                        add(text(start - 5, middle + 3.5, label, size: 10, fill: postgresBetter, anchor: "end"))
                    }
                } else {
                    let reason = row.isPostgresExcluded ? "does not apply" : "n/a"
                    add(
                        text(
                            x(1) + 6, middle + 3.5, "PostgreSQL: \(reason)", size: 10, fill: "#777777",
                            style: "italic"))
                }
            }
            let middle = hasPostgres ? rowMiddle - 4 : rowMiddle
            guard let advantage = row.advantage else {
                let reason = (row.note ?? "").contains("not supported yet") ? "not supported yet" : "not measured"
                add(text(x(1) + 6, middle + 4, "n/a: \(reason)", size: 12, fill: "#777777", style: "italic"))
                continue
            }
            let clamped = min(max(advantage, low), high)
            let start = min(x(1), x(clamped))
            let barWidth = max(abs(x(clamped) - x(1)), 1.5)
            add(
                "<rect x=\"\(fmt(start))\" y=\"\(fmt(middle - barHeight / 2))\" width=\"\(fmt(barWidth))\" "
                    + "height=\"\(fmt(barHeight))\" fill=\"\(advantage >= 1 ? better : worse)\"/>")
            let label = Format.ratio(advantage)
            if advantage >= 1 {
                add(text(start + barWidth + 5, middle + 4, label, size: 12, weight: "bold"))
            } else {
                add(text(start - 5, middle + 4, label, size: 12, weight: "bold", anchor: "end"))
            }
        }
        // The line at 1×.
        add(
            "<line x1=\"\(fmt(x(1)))\" y1=\"\(fmt(top - 10))\" x2=\"\(fmt(x(1)))\" y2=\"\(fmt(plotBottom + 4))\" "
                + "stroke=\"#222222\" stroke-width=\"2\"/>")
        add(text(x(1), top - 14, "1× = same as SQLite", size: 11, fill: "#222222", anchor: "middle"))
        add(
            text(
                (plotLeft + plotRight) / 2, plotBottom + 40,
                hasPostgres
                    ? "times better than SQLite, log scale (throughput: store ÷ SQLite; latency, time, bytes, memory: "
                        + "SQLite ÷ store)"
                    : "times better than SQLite, log scale (throughput: log ÷ SQLite; latency, time, bytes, memory: "
                        + "SQLite ÷ log)",
                size: 12, anchor: "middle"))
        add(
            text(
                (plotLeft + plotRight) / 2, plotBottom + 60,
                "Every figure with its raw values: docs/BENCHMARKS.md", size: 11, fill: "#555555", anchor: "middle"))
        add("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private static func axisLabel(_ value: Double) -> String {
        if value >= 1 { return Format.grouped(value) + "×" }
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        return text + "×"
    }

    private static func fmt(_ value: Double) -> String { String(format: "%.1f", value) }

    private static func text(
        _ x: Double, _ y: Double, _ content: String, size: Double, weight: String = "normal",
        fill: String = "#1a1a1a", anchor: String = "start", style: String = "normal"
    ) -> String {
        "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" font-size=\"\(fmt(size))\" font-weight=\"\(weight)\" "
            + "font-style=\"\(style)\" fill=\"\(fill)\" text-anchor=\"\(anchor)\">\(escape(content))</text>"
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
