import EventSourcingCore
import EventSourcingTestSupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The subscription kill harness (issue 14): while this process writes events to several streams,
/// a consumer process (`reliability subscription-consumer`) holds a subscription to `@all`, logs
/// every delivery and acknowledgement, and is sent SIGKILL at a random moment (before it holds the
/// name, or after some deliveries, perhaps inside an acknowledgement), then started again, `kills`
/// times. Some steps are races: two consumers start at once on the name, one holds it and the
/// other hears `subscriptionBusy` and retries every 20 ms; the holder is killed and the time until
/// the other holds the name is measured (a reported figure: it fails only past 10 s), then that
/// one is killed too. Then the writer stops, a last consumer runs until it has acknowledged the
/// head, and `DeliveryChecker` checks every log against the events stored: at least once, none
/// after its acknowledgement returned, positions never backward, the final position the head.
///
/// A round is one store. In about one round of three the subscription filters on `event_type`,
/// so its position moves past the events it drops. Its choices come from the seed; where a signal
/// lands is up to the scheduler.
struct SubscriptionKillHarness {
    let seed: UInt64
    let workDirectory: String
    let executable: String
    let kind: SubscriptionStoreKind
    /// Consumer steps per round; each ends in a SIGKILL (a race step in two).
    var steps = 20
    /// Of them, the races of two consumers for the name.
    var races = 2

    /// The longest a takeover may take before it is a failure.
    static let takeoverBoundNanoseconds: UInt64 = 10_000_000_000

    func runRound(_ round: Int) async -> FaultHarness.RoundResult {
        var random = SeededRandom(seed: seed, stream: UInt64(round) ^ 0x5B4B_0000_0000)
        let directory = workDirectory + "/subscription-kill-\(kind.rawValue)-\(round)"
        return await FaultHarness.RoundResult.run(in: directory) { counters in
            try await run(&random, directory: directory, counters: &counters)
        }
    }

    /// What every consumer of a round is started with.
    struct Configuration {
        var kind: SubscriptionStoreKind
        var location: String
        var name: String
        var filter: String?
        var ack: String
        var every: Int
        var isSynced: Bool

        func arguments(log: String, seed: UInt64, finalHead: Int64?) -> [String] {
            [
                "subscription-consumer", "--kind", kind.rawValue, "--location", location, "--name", name, "--log", log,
                "--seed", String(seed), "--ack", ack, "--every", String(every), "--synced", isSynced ? "1" : "0",
            ] + (filter.map { ["--filter", $0] } ?? []) + (finalHead.map { ["--final-head", String($0)] } ?? [])
        }
    }

    private func run(_ random: inout SeededRandom, directory: String, counters: inout HarnessCounters) async throws
        -> String?
    {
        let options = SubscriptionStoreKind.Options(
            writerSynced: random.chance(0.5), consumerSynced: random.chance(0.5))
        let isFiltered = random.int(0..<3) == 0
        let ack = random.pick(["each", "upto", "mixed"])
        let configuration = Configuration(
            kind: kind, location: kind.location(in: directory), name: isFiltered ? "projector-kept" : "projector",
            filter: isFiltered ? SubscriptionConsumer.keptType : nil, ack: ack, every: random.int(2...8),
            isSynced: options.consumerSynced)
        let streams = random.int(2...6)
        var raceSteps = Set<Int>()
        // In half the rounds the first race is the first step: two consumers create the subscription at once.
        for race in 0..<races { raceSteps.insert(race == 0 && random.chance(0.5) ? 0 : random.int(0..<steps)) }
        let acknowledging =
            switch ack {
            case "each": "each event acknowledged"
            case "upto": "acknowledged up to every \(configuration.every)th event"
            default: "acknowledged by event or by position, at random"
            }
        var log = [
            "\(kind.rawValue) store, \(options.description), \(streams) streams, subscription '\(configuration.name)'"
                + (isFiltered ? " filtered on event_type = \(SubscriptionConsumer.keptType)" : "")
                + ", \(acknowledging)"
        ]
        let store = try await kind.openWriter(at: configuration.location, options: options)
        let writer = EventWriter()
        writer.start(store: store, seed: random.next(), streams: streams)
        var session = Session(directory: directory, executable: executable, configuration: configuration)
        var runs: [DeliveryChecker.Run] = []
        var failure: String?
        steps: for step in 0..<steps {
            do {
                if raceSteps.contains(step) {
                    failure = try await race(step, &random, &session, &runs, &counters, &log)
                } else {
                    let consumer = try session.spawn("consumer \(step)", seed: random.next())
                    failure = try await killLater(consumer, &random, &runs, &counters, &log)
                }
            } catch {
                failure = "step \(step): \(error)"
            }
            if failure != nil { break steps }
        }
        session.killAll()
        let written: Int
        do {
            written = try await writer.stop()
        } catch {
            failure = failure ?? "the writer failed: \(error)"
            written = 0
        }
        counters.eventsWritten += written
        if let failure {
            try? await store.close()
            return (log + [failure]).joined(separator: "\n  ")
        }
        do {
            failure = try await finish(
                store, session: &session, runs: &runs, isFiltered: isFiltered, counters: &counters)
        } catch {
            failure = "the last consumer or the check failed: \(error)"
        }
        session.killAll()
        try? await store.close()
        return failure.map { (log + [$0]).joined(separator: "\n  ") }
    }

    /// One consumer killed at a random moment: a while after its start (perhaps before it holds
    /// the name), or after some deliveries and a few microseconds more, or as soon as the harness
    /// sees it start an acknowledgement (watching its log without sleeping, so that the signal
    /// often lands inside the acknowledgement).
    private func killLater(
        _ consumer: ConsumerProcess, _ random: inout SeededRandom, _ runs: inout [DeliveryChecker.Run],
        _ counters: inout HarnessCounters, _ log: inout [String]
    ) async throws -> String? {
        enum Moment { case early, afterDeliveries, inAcknowledgement }
        let moment = random.weighted([(Moment.early, 15), (.afterDeliveries, 60), (.inAcknowledgement, 25)])
        let earlyMicroseconds = UInt64(random.int(0...40_000))
        let deliveries = random.int(1...40)
        let acknowledgements = random.int(1...20)
        let delayMicroseconds = UInt32(random.int(0...3000))
        let started = SubscriptionConsumer.now()
        let acknowledgementsBefore = consumer.acknowledging
        while true {
            if let problem = try consumer.poll() { return problem }
            let elapsed = SubscriptionConsumer.now() - started
            let isDue =
                switch moment {
                case .early: elapsed >= earlyMicroseconds * 1000
                case .afterDeliveries: consumer.deliveries >= deliveries
                case .inAcknowledgement: consumer.acknowledging - acknowledgementsBefore >= acknowledgements
                }
            if isDue { break }
            if elapsed > 60_000_000_000 {
                return "\(consumer.label) made no progress for 60 s (\(consumer.deliveries) deliveries)"
            }
            // Watching for an acknowledgement spins for up to 2 s at a time; the rest sleeps.
            if moment != .inAcknowledgement || elapsed > 2_000_000_000 { try await Task.sleep(for: .milliseconds(1)) }
        }
        if moment == .afterDeliveries { usleep(delayMicroseconds) }
        if let problem = try consumer.kill() { return problem }
        count(consumer, &counters)
        runs.append(consumer.run)
        let when =
            switch moment {
            case .early: "\(earlyMicroseconds / 1000) ms after its start"
            case .afterDeliveries: "after \(deliveries) deliveries"
            case .inAcknowledgement: "at its \(acknowledgements)th acknowledgement"
            }
        log.append(
            "\(consumer.label): killed \(when) ("
                + (consumer.heldAt == nil ? "before it held the name" : "\(consumer.deliveries) deliveries") + ")")
        return nil
    }

    /// Counts a kill: before the consumer held the name, or inside an acknowledgement.
    private func count(_ killed: ConsumerProcess, _ counters: inout HarnessCounters) {
        counters.processKills += 1
        if killed.heldAt == nil { counters.subscriptionKillsBeforeHold += 1 }
        if case .acknowledging = killed.lines.last { counters.subscriptionKillsDuringAck += 1 }
    }

    /// Two consumers start at once; the one that holds the name is killed, and the other must
    /// take it over (it retries every 20 ms); it is killed in turn later.
    private func race(
        _ step: Int, _ random: inout SeededRandom, _ session: inout Session, _ runs: inout [DeliveryChecker.Run],
        _ counters: inout HarnessCounters, _ log: inout [String]
    ) async throws -> String? {
        let first = try session.spawn("race \(step)a", seed: random.next())
        let second = try session.spawn("race \(step)b", seed: random.next())
        let holderDeliveries = random.int(0...20)
        // After the other's first busy answer, a while more, so that the kill lands anywhere in
        // its 20 ms between attempts.
        let killDelayMicroseconds = random.int(0...25_000)
        let started = SubscriptionConsumer.now()
        // One of them holds the name, and the other has heard that it is busy.
        var holder: ConsumerProcess?
        while true {
            for consumer in [first, second] { if let problem = try consumer.poll() { return problem } }
            if first.heldAt != nil && second.heldAt != nil {
                return "race \(step): both consumers hold the subscription at once"
            }
            holder = holder ?? (first.heldAt != nil ? first : second.heldAt != nil ? second : nil)
            let elapsed = SubscriptionConsumer.now() - started
            if let holder {
                let waiting = holder === first ? second : first
                if waiting.busy > 0 && (holder.deliveries >= holderDeliveries || elapsed > 10_000_000_000) { break }
            }
            if elapsed > 60_000_000_000 {
                return
                    "race \(step): after 60 s, holder: \(holder?.label ?? "none"), busy answers: \(first.busy + second.busy)"
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        guard let holder else { return nil }
        let survivor = holder === first ? second : first
        try await Task.sleep(for: .microseconds(killDelayMicroseconds))
        if let problem = try holder.kill() { return problem }
        let killedAt = holder.killedAt!
        count(holder, &counters)
        runs.append(holder.run)
        while survivor.heldAt == nil {
            if let problem = try survivor.poll() { return problem }
            if SubscriptionConsumer.now() - killedAt > Self.takeoverBoundNanoseconds {
                return "race \(step): \(survivor.label) did not take the subscription over within 10 s of the kill of "
                    + "\(holder.label)"
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        let delay = Int64(bitPattern: survivor.heldAt! &- killedAt)
        counters.subscriptionTakeovers += 1
        counters.subscriptionTakeoverMicroseconds.append(Int(delay / 1000))
        log.append(
            "race \(step): \(holder.label) held the name (\(holder.deliveries) deliveries) while \(survivor.label) "
                + "was busy \(survivor.busy) times; killed; taken over in \(String(format: "%.1f", Double(delay) / 1e6)) ms"
        )
        return try await killLater(survivor, &random, &runs, &counters, &log)
    }

    /// Stops nothing (the writer is stopped): writes a last event the filter keeps, runs a
    /// consumer until it has acknowledged it, and checks every consumer's log.
    private func finish(
        _ store: any EventStore, session: inout Session, runs: inout [DeliveryChecker.Run], isFiltered: Bool,
        counters: inout HarnessCounters
    ) async throws -> String? {
        try await store.stream("s0").write(CandidateEvent(type: SubscriptionConsumer.keptType))
        counters.eventsWritten += 1
        let head = try await store.stream("@all").version
        let last = try session.spawn("the last consumer", seed: 0, finalHead: head)
        let started = SubscriptionConsumer.now()
        while true {
            if let status = try last.exitStatus() {
                guard status.raw == 0 else {
                    return "\(last.label) ended with \(status): \(last.child.stderr())"
                }
                break
            }
            if SubscriptionConsumer.now() - started > 300_000_000_000 {
                return "\(last.label) did not reach the head \(head) in 300 s (\(last.deliveries) deliveries)"
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        runs.append(last.run)
        var events: [DeliveryChecker.Event] = []
        for try await event in try await store.stream("@all").read() {
            events.append(
                DeliveryChecker.Event(
                    sequenceID: event.sequenceID, streamID: event.streamID, version: event.version, type: event.type))
        }
        let position = try await store.subscriptions().first { $0.name == session.configuration.name }?.position
        let kept = SubscriptionConsumer.keptType
        let accepts: @Sendable (String) -> Bool = { type in !isFiltered || type == kept }
        let checker = DeliveryChecker(events: events, accepts: accepts)
        let (violations, counts) = checker.check(runs, finalPosition: position)
        counters.subscriptionDeliveries += counts.deliveries
        counters.subscriptionRedeliveries += counts.redeliveries
        counters.subscriptionAcks += counts.acknowledgements
        counters.subscriptionBusy += counts.busy
        counters.subscriptionFilteredSkips += counts.filteredSkips
        if !violations.isEmpty {
            return "after \(runs.count) consumers, head \(head):\n  " + violations.prefix(20).joined(separator: "\n  ")
        }
        return nil
    }

    /// The consumer processes of a round.
    struct Session {
        let directory: String
        let executable: String
        let configuration: Configuration
        private var count = 0
        private var live: [ConsumerProcess] = []

        init(directory: String, executable: String, configuration: Configuration) {
            self.directory = directory
            self.executable = executable
            self.configuration = configuration
        }

        mutating func spawn(_ label: String, seed: UInt64, finalHead: Int64? = nil) throws -> ConsumerProcess {
            let logPath = directory + "/consumer-\(count).log"
            let stderrPath = directory + "/consumer-\(count).stderr"
            count += 1
            let consumer = try ConsumerProcess(
                label: label, executable: executable,
                arguments: configuration.arguments(log: logPath, seed: seed, finalHead: finalHead), logPath: logPath,
                stderrPath: stderrPath)
            live.removeAll { $0.isReaped }
            live.append(consumer)
            return consumer
        }

        /// Kills every consumer still running (after a failure).
        mutating func killAll() {
            for consumer in live where !consumer.isReaped { _ = try? consumer.kill() }
            live.removeAll()
        }
    }
}

/// A consumer process and what it has logged so far.
final class ConsumerProcess {
    let label: String
    let child: ChildProcess
    private let log: Int32
    private var pending: [UInt8] = []
    private(set) var lines: [ConsumerLine] = []
    private(set) var deliveries = 0
    private(set) var acknowledging = 0
    private(set) var busy = 0
    private(set) var heldAt: UInt64?
    private(set) var killedAt: UInt64?
    private(set) var isReaped = false

    init(label: String, executable: String, arguments: [String], logPath: String, stderrPath: String) throws {
        log = open(logPath, O_RDONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw EventStoreError.io("cannot open '\(logPath)': errno \(errno)") }
        self.label = label
        child = try ChildProcess(executable: executable, arguments: arguments, stderrPath: stderrPath)
    }

    deinit { close(log) }

    var run: DeliveryChecker.Run { DeliveryChecker.Run(label: label, lines: lines, killedAt: killedAt) }

    /// Reads the lines logged since the last call.
    func readLines() throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(log, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            pending += buffer[0..<count]
        }
        while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
            let text = String(decoding: pending[0..<newline], as: UTF8.self)
            pending.removeSubrange(0...newline)
            guard let line = ConsumerLine(line: text) else { throw ConsumerLine.UnreadableLine(line: text) }
            lines.append(line)
            switch line {
            case .busy: busy += 1
            case .held(let time, _): heldAt = heldAt ?? time
            case .delivered: deliveries += 1
            case .acknowledging: acknowledging += 1
            default: break
            }
        }
    }

    /// Reads new lines. - Returns: the exit status once the consumer has ended (it is reaped then).
    func exitStatus() throws -> ChildProcess.Status? {
        try readLines()
        guard let status = child.exitStatus() else { return nil }
        isReaped = true
        try readLines()
        return status
    }

    /// Reads new lines. - Returns: a problem when the consumer ended by itself.
    func poll() throws -> String? {
        guard let status = try exitStatus() else { return nil }
        return "\(label) ended by itself (\(status)): \(child.stderr())"
    }

    /// Sends SIGKILL and reaps it. - Returns: a problem when it had ended by itself first.
    func kill() throws -> String? {
        killedAt = SubscriptionConsumer.now()
        child.kill()
        let status = child.wait()
        isReaped = true
        try readLines()
        return status.wasKilled ? nil : "\(label) ended by itself (\(status)) before its kill: \(child.stderr())"
    }
}

/// The writer of a round: one task that writes 1-3 events at a time to one of several streams
/// (now and then to two streams in one call), with short pauses and now and then a longer one,
/// so that consumers are sometimes behind and sometimes waiting at the head.
final class EventWriter: Sendable {
    private let isStopped = Mutex(false)
    private let task = Mutex<Task<Int, Error>?>(nil)

    func start(store: any EventStore, seed: UInt64, streams: Int) {
        task.withLock { task in
            task = Task { [self] in try await write(to: store, seed: seed, streams: streams) }
        }
    }

    /// Stops writing. - Returns: how many events were written.
    func stop() async throws -> Int {
        isStopped.withLock { $0 = true }
        guard let task = task.withLock({ $0 }) else { return 0 }
        return try await task.value
    }

    private func write(to store: any EventStore, seed: UInt64, streams: Int) async throws -> Int {
        var random = SeededRandom(seed: seed, stream: 0x3717)
        var written = 0
        func events() -> [CandidateEvent] {
            (0..<random.int(1...3)).map { _ in
                let type = random.weighted([(SubscriptionConsumer.keptType, 2), ("Skipped", 2), ("Other", 1)])
                written += 1
                return CandidateEvent(type: type, data: Data("{\"n\":\(written)}".utf8))
            }
        }
        while !isStopped.withLock({ $0 }) {
            let stream = random.int(0..<streams)
            if streams > 1 && random.chance(0.1) {
                try await store.write([
                    StreamWrite("s\(stream)", events()), StreamWrite("s\((stream + 1) % streams)", events()),
                ])
            } else {
                try await store.stream("s\(stream)").write(events())
            }
            let pause = random.chance(0.03) ? random.int(20_000...80_000) : random.int(500...4000)
            try await Task.sleep(for: .microseconds(pause))
        }
        return written
    }
}
