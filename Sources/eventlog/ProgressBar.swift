import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Progress of long work on stderr, for people: a bar with the count, the rate and the time left,
/// redrawn at most ten times a second on one line, then left in place with a newline. Only when
/// stderr is a terminal; otherwise (a pipe, a file, a script) it writes nothing at all.
///
/// ```
/// copy [##############----------------]  46,080/100,000 events  15,301/s  0:03 left
/// ```
///
/// Thread-safety: state is behind a mutex; `advance` may be called from any task.
final class ProgressBar: Sendable {
    /// Whether progress is drawn: stderr is a terminal.
    static let isEnabled = isatty(STDERR_FILENO) == 1

    private struct State {
        var count: Int64 = 0
        var total: Int64?
        var lastDraw: ContinuousClock.Instant?
        var isFinished = false
    }

    private let label: String
    private let unit: String
    private let start = ContinuousClock.now
    private let state: Mutex<State>

    /// A bar for `label`, counting `unit` up to `total` (`nil` when unknown: no bar, no time left).
    init(_ label: String, total: Int64?, unit: String = "events") {
        self.label = label
        self.unit = unit
        state = Mutex(State(total: total))
    }

    /// Counts `count` more done.
    func advance(by count: Int64 = 1) {
        guard Self.isEnabled else { return }
        update { $0.count += count }
    }

    /// Sets how much is done, and the total when it is known only now.
    func set(done count: Int64, total: Int64? = nil) {
        guard Self.isEnabled else { return }
        update { state in
            state.count = count
            if let total { state.total = total }
        }
    }

    /// Draws the final state and ends the line. Calling it again does nothing.
    func finish() {
        guard Self.isEnabled else { return }
        let line: String? = state.withLock { state in
            guard !state.isFinished else { return nil }
            state.isFinished = true
            return render(state, now: .now) + "\n"
        }
        if let line { Self.write(line) }
    }

    private func update(_ change: (inout State) -> Void) {
        let line: String? = state.withLock { state in
            change(&state)
            let now = ContinuousClock.now
            if let last = state.lastDraw, now - last < .milliseconds(100) { return nil }
            state.lastDraw = now
            return render(state, now: now)
        }
        if let line { Self.write(line) }
    }

    /// The line, starting with a carriage return and an erase-line sequence.
    private func render(_ state: State, now: ContinuousClock.Instant) -> String {
        let elapsed = Self.seconds(now - start)
        let rate = elapsed > 0 ? Double(state.count) / elapsed : 0
        var line = "\r\u{1B}[2K" + label
        if let total = state.total, total > 0 {
            let fraction = min(1, Double(state.count) / Double(total))
            let filled = Int(fraction * 30)
            line += " [" + String(repeating: "#", count: filled) + String(repeating: "-", count: 30 - filled) + "]"
            line += "  \(Self.grouped(state.count))/\(Self.grouped(total)) \(unit)"
        } else {
            line += "  \(Self.grouped(state.count)) \(unit)"
        }
        line += "  \(Self.grouped(Int64(rate.rounded())))/s"
        if let total = state.total, rate > 0, state.count < total {
            line += "  " + Self.clock(Double(total - state.count) / rate) + " left"
        } else if state.isFinished || state.total.map({ state.count >= $0 }) == true {
            line += "  " + Self.clock(elapsed)
        }
        return line
    }

    static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result += "," }
            result.append(digit)
        }
        return (value < 0 ? "-" : "") + result
    }

    static func clock(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        let (hours, minutes, rest) = (whole / 3600, whole / 60 % 60, whole % 60)
        let tail = (minutes < 10 && hours > 0 ? "0" : "") + "\(minutes):" + (rest < 10 ? "0" : "") + "\(rest)"
        return hours > 0 ? "\(hours):\(tail)" : tail
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func write(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(STDERR_FILENO, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}
