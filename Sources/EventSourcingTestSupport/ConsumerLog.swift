/// One line of a consumer process's log in the subscription kill harness. The consumer writes
/// each line with one `write(2)` as it goes, so a SIGKILL loses none that was written:
///
/// ```
/// B                           subscribe threw subscriptionBusy (it retries)
/// H <ns> <position>           subscribe returned at CLOCK_MONOTONIC <ns>; the position it resumes after
/// D <seq> <stream> <version> <type>   an event was delivered
/// a <position>                about to acknowledge (the event at <position>, or up to it)
/// A <position>                the acknowledgement returned; the subscription's position now
/// E                           the consumer reached the head it was given, and stops
/// ```
package enum ConsumerLine: Equatable, Sendable {
    case busy
    case held(nanoseconds: UInt64, position: Int64)
    case delivered(sequenceID: Int64, streamID: String, version: Int64, type: String)
    case acknowledging(Int64)
    case acknowledged(Int64)
    case finished

    package init?(line: String) {
        let fields = line.split(separator: " ").map(String.init)
        switch (fields.first, fields.count) {
        case ("B", 1): self = .busy
        case ("E", 1): self = .finished
        case ("H", 3):
            guard let time = UInt64(fields[1]), let position = Int64(fields[2]) else { return nil }
            self = .held(nanoseconds: time, position: position)
        case ("D", 5):
            guard let sequenceID = Int64(fields[1]), let version = Int64(fields[3]) else { return nil }
            self = .delivered(sequenceID: sequenceID, streamID: fields[2], version: version, type: fields[4])
        case ("a", 2):
            guard let position = Int64(fields[1]) else { return nil }
            self = .acknowledging(position)
        case ("A", 2):
            guard let position = Int64(fields[1]) else { return nil }
            self = .acknowledged(position)
        default: return nil
        }
    }

    package var line: String {
        switch self {
        case .busy: "B"
        case .finished: "E"
        case .held(let time, let position): "H \(time) \(position)"
        case .delivered(let sequenceID, let streamID, let version, let type):
            "D \(sequenceID) \(streamID) \(version) \(type)"
        case .acknowledging(let position): "a \(position)"
        case .acknowledged(let position): "A \(position)"
        }
    }

    /// The lines of a log's text; a last line without its newline (cut by the kill mid-write,
    /// which `write(2)` of a regular file does not do) is left out.
    /// - Throws: the first line that does not parse.
    package static func lines(of text: String) throws -> [ConsumerLine] {
        var lines: [ConsumerLine] = []
        var rest = Substring(text)
        while let newline = rest.firstIndex(of: "\n") {
            let line = String(rest[..<newline])
            rest = rest[rest.index(after: newline)...]
            guard let parsed = ConsumerLine(line: line) else { throw UnreadableLine(line: line) }
            lines.append(parsed)
        }
        return lines
    }

    package struct UnreadableLine: Error, CustomStringConvertible {
        package var line: String
        package init(line: String) { self.line = line }
        package var description: String { "a consumer wrote '\(line)'" }
    }
}

/// Checks what the consumer processes of one subscription did against the log they read, after
/// the last one reached the head (the subscription kill harness):
///
/// - one consumer held the name at a time: each took it (`H`) after the one before was killed;
/// - each resumed after the last position acknowledged before it (`H` at or after the last `A`),
///   and not past an event the filter accepts that no acknowledgement asked for;
/// - each delivered, from there, exactly the accepted events in order, each as stored (stream,
///   version, type), with none at or below the last position acknowledged before it (none came
///   again after its acknowledgement returned);
/// - acknowledged positions never went backward, each at least what was asked, and never past an
///   accepted event not yet delivered (a filtered position skips only filtered-out events);
/// - every accepted event 1...head was delivered at least once, and the subscription's final
///   position is the head.
///
/// Thread-safety: a value type.
package struct DeliveryChecker: Sendable {
    /// An event of the log.
    package struct Event: Sendable, Equatable {
        package var sequenceID: Int64
        package var streamID: String
        package var version: Int64
        package var type: String

        package init(sequenceID: Int64, streamID: String, version: Int64, type: String) {
            self.sequenceID = sequenceID
            self.streamID = streamID
            self.version = version
            self.type = type
        }
    }

    /// One consumer process: its log, and when the harness killed it (`nil`: it stopped by itself).
    package struct Run: Sendable {
        package var label: String
        package var lines: [ConsumerLine]
        package var killedAt: UInt64?

        package init(label: String, lines: [ConsumerLine], killedAt: UInt64?) {
            self.label = label
            self.lines = lines
            self.killedAt = killedAt
        }

        var heldAt: UInt64? {
            for line in lines { if case .held(let time, _) = line { return time } }
            return nil
        }
    }

    /// What the consumers did.
    package struct Counts: Sendable, Equatable {
        package var deliveries = 0
        package var redeliveries = 0
        package var acknowledgements = 0
        package var busy = 0
        package var filteredSkips = 0
    }

    /// Every event of the log, 1...head.
    package let events: [Event]
    /// Whether the subscription's filter accepts an event of this type.
    package let accepts: @Sendable (String) -> Bool
    private let accepted: [Int64]

    package init(events: [Event], accepts: @escaping @Sendable (String) -> Bool) {
        self.events = events
        self.accepts = accepts
        accepted = events.filter { accepts($0.type) }.map(\.sequenceID)
    }

    /// The first accepted event after `position`.
    private func nextAccepted(after position: Int64) -> Int64? {
        var low = 0
        var high = accepted.count
        while low < high {
            let middle = (low + high) / 2
            if accepted[middle] <= position { low = middle + 1 } else { high = middle }
        }
        return low < accepted.count ? accepted[low] : nil
    }

    /// Checks `runs` (in any order: they are taken in the order they held the name) and the
    /// subscription's final position.
    /// - Returns: the violations (empty when none) and the counts.
    package func check(_ runs: [Run], finalPosition: Int64?) -> (violations: [String], counts: Counts) {
        var violations: [String] = []
        var counts = Counts()
        let head = events.last?.sequenceID ?? 0
        for (index, event) in events.enumerated() where event.sequenceID != Int64(index + 1) {
            violations.append("the log's sequence ids do not run 1...\(head): \(event.sequenceID) at \(index + 1)")
            return (violations, counts)
        }
        var holders: [Run] = []
        for run in runs {
            counts.busy += run.lines.filter { $0 == .busy }.count
            if run.heldAt != nil {
                holders.append(run)
            } else if let line = run.lines.first(where: { $0 != .busy }) {
                violations.append("\(run.label) wrote '\(line.line)' without holding the subscription")
            }
        }
        holders.sort { $0.heldAt! < $1.heldAt! }
        var lastAcknowledged: Int64 = 0
        // The furthest position an acknowledgement asked for (or recorded) so far.
        var furthestAsked: Int64 = 0
        var delivered = Set<Int64>()
        var previous: Run?
        for run in holders {
            let problemsBefore = violations.count
            func fail(_ message: String) { violations.append("\(run.label): \(message)") }
            if let previous {
                if let killedAt = previous.killedAt {
                    if run.heldAt! <= killedAt {
                        fail("took the subscription while \(previous.label) still held it (before it was killed)")
                    }
                } else {
                    fail("took the subscription after \(previous.label), which was never killed, stopped")
                }
            }
            let acknowledgedBefore = lastAcknowledged
            var lastDelivered: Int64 = 0
            var expected: Int64?
            var asked: Int64?
            var isHeld = false
            for line in run.lines {
                switch line {
                case .busy:
                    if isHeld { fail("was told the subscription is busy while holding it") }
                case .held(_, let position):
                    if isHeld { fail("took the subscription twice") }
                    isHeld = true
                    if position < lastAcknowledged {
                        fail("resumed after \(position), before \(lastAcknowledged), acknowledged earlier")
                    }
                    if let skipped = nextAccepted(after: furthestAsked), skipped <= position {
                        fail(
                            "resumed after \(position), past event \(skipped), which no acknowledgement covered "
                                + "(the furthest asked for was \(furthestAsked))")
                    }
                    lastDelivered = position
                    expected = nextAccepted(after: position)
                case .delivered(let sequenceID, let streamID, let version, let type):
                    counts.deliveries += 1
                    if sequenceID <= acknowledgedBefore {
                        fail(
                            "event \(sequenceID) was delivered again after its acknowledgement returned "
                                + "(position \(acknowledgedBefore) was acknowledged before the restart)")
                    }
                    if sequenceID != expected {
                        fail(
                            "delivered event \(sequenceID) where event \(expected.map(String.init) ?? "none") was next "
                                + "(after \(lastDelivered))")
                    }
                    let stored = sequenceID >= 1 && sequenceID <= head ? events[Int(sequenceID - 1)] : nil
                    let got = Event(sequenceID: sequenceID, streamID: streamID, version: version, type: type)
                    if stored != got {
                        fail("delivered \(got), but the log holds \(stored.map { "\($0)" } ?? "no such event")")
                    } else if !accepts(type) {
                        fail("delivered event \(sequenceID) of type \(type), which the filter drops")
                    }
                    delivered.insert(sequenceID)
                    lastDelivered = sequenceID
                    expected = nextAccepted(after: sequenceID)
                case .acknowledging(let position):
                    if position > lastDelivered {
                        fail("asked to acknowledge \(position), past the last delivered event \(lastDelivered)")
                    }
                    asked = position
                    furthestAsked = max(furthestAsked, position)
                case .acknowledged(let position):
                    counts.acknowledgements += 1
                    if position < lastAcknowledged {
                        fail("the acknowledged position went back from \(lastAcknowledged) to \(position)")
                    }
                    if let asked, position < asked {
                        fail("the acknowledgement of \(asked) returned with the position at \(position)")
                    }
                    if let next = nextAccepted(after: lastDelivered), next <= position {
                        fail("the position \(position) passes event \(next), which was not delivered yet")
                    }
                    if let asked, position > asked { counts.filteredSkips += 1 }
                    lastAcknowledged = max(lastAcknowledged, position)
                    furthestAsked = max(furthestAsked, position)
                    asked = nil
                case .finished:
                    break
                }
                // One problem per line is enough to read; a run's first few say what went wrong.
                if violations.count - problemsBefore >= 5 { break }
            }
            previous = run
        }
        counts.redeliveries = counts.deliveries - delivered.count
        let missing = accepted.filter { !delivered.contains($0) }
        if !missing.isEmpty {
            violations.append(
                "\(missing.count) accepted events were never delivered: "
                    + missing.prefix(10).map(String.init).joined(separator: ", ") + (missing.count > 10 ? ", ..." : ""))
        }
        if let last = holders.last {
            if last.killedAt != nil || last.lines.last != .finished {
                violations.append("the last consumer, \(last.label), did not reach the head \(head)")
            }
            if lastAcknowledged != head {
                violations.append("the last acknowledged position is \(lastAcknowledged), not the head \(head)")
            }
        } else {
            violations.append("no consumer ever held the subscription")
        }
        if finalPosition != head {
            violations.append(
                "subscriptions() lists the position \(finalPosition.map(String.init) ?? "nothing"), not the head \(head)"
            )
        }
        return (violations, counts)
    }
}
