import EventSourcing
import EventSourcingPostgres
import EventSourcingTestSupport
import Foundation
import Synchronization
import Testing

/// A server that goes away in the middle of writes and watches, and comes back: calls fail with
/// `unavailable` meanwhile (never a hang, never a crash), the store connects again by itself,
/// every acknowledged event is there once, and every watcher carries on without a gap.
///
/// The test stops its own server (another throwaway one, so that the suite's other tests keep
/// theirs), in immediate mode, the way a crash or a failover cuts connections.
@Suite(
    "PostgreSQL server restarts", .enabled(if: PostgresServer.canStartServers, "this run did not start its own server"))
struct PostgresRestartTests {
    @Test func writesAndWatchesCarryOnAcrossAServerRestart() async throws {
        let server = try PrivateServer()
        defer { server.remove() }
        let store = try await PostgresEventStore.open(
            url: server.url, options: .init(timeout: .seconds(30), pollInterval: .milliseconds(500)))
        let writers = 4
        let perWriter = 60
        let total = writers * perWriter
        let tally = Tally()
        let allWatcher = Task {
            var seen: [StoredEvent] = []
            for try await event in try await store.stream("@all").watch(from: 0) {
                seen.append(event)
                if seen.count == total { break }
            }
            return seen
        }
        let streamWatcher = Task {
            var seen: [StoredEvent] = []
            for try await event in try await store.stream("writer-0").watch(from: 0) {
                seen.append(event)
                if seen.count == perWriter { break }
            }
            return seen
        }
        let writing = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for index in 0..<perWriter {
                            let event = CandidateEvent(type: "E", idempotencyKey: "\(writer)-\(index)")
                            // A write that failed as unavailable may have been stored: the key makes
                            // the retry safe.
                            while true {
                                do {
                                    try await store.stream("writer-\(writer)").write(event)
                                    break
                                } catch EventStoreError.unavailable(let message) {
                                    tally.unavailable.withLock { $0.append(message) }
                                    try await Task.sleep(for: .milliseconds(100))
                                }
                            }
                            tally.acknowledged.withLock { $0 += 1 }
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        // Stop the server once the writers are well under way, keep it down a while, start it again.
        while tally.acknowledged.withLock({ $0 }) < total / 4 { try await Task.sleep(for: .milliseconds(10)) }
        try server.control("stop")
        let stoppedAt = tally.acknowledged.withLock { $0 }
        try await Task.sleep(for: .seconds(2))
        // Meanwhile a read fails as unavailable (at once: the listener has found the server gone).
        do {
            let events = try await collect(try await store.stream("writer-1").read())
            Issue.record("a read with the server stopped returned \(events.count) events")
        } catch EventStoreError.unavailable {
        } catch {
            Issue.record("a read with the server stopped failed with \(error), not unavailable")
        }
        try server.control("start")
        try await withHangGuard(seconds: 300, cancelling: writing)
        let all = try await collect(try await store.stream("@all").read())
        #expect(all.map(\.sequenceID) == Array(1...Int64(total)))
        #expect(
            Set(all.map(\.id)) == Set((0..<writers).flatMap { writer in (0..<perWriter).map { "\(writer)-\($0)" } }))
        let watched = try await withHangGuard(seconds: 120, cancelling: allWatcher)
        #expect(watched == all)
        let streamWatched = try await withHangGuard(seconds: 120, cancelling: streamWatcher)
        #expect(streamWatched.map(\.version) == Array(1...Int64(perWriter)))
        let failures = tally.unavailable.withLock { $0 }
        #expect(stoppedAt < total && !failures.isEmpty, "the writers never saw the server gone")
        try await store.close()
        print(
            "restart: \(stoppedAt) of \(total) acknowledged when the server stopped; \(failures.count) writes "
                + "failed as unavailable and were retried; first: \(failures.first ?? "-")")
    }

    @Test func aSubscriptionsHoldEndsWithTheServerAndClosingDoesNotHang() async throws {
        let server = try PrivateServer()
        defer { server.remove() }
        let options = PostgresEventStore.Options(timeout: .seconds(30), pollInterval: .milliseconds(500))
        let store = try await PostgresEventStore.open(url: server.url, options: options)
        try await store.stream("s").write([CandidateEvent(type: "A"), CandidateEvent(type: "B")])
        let held = try await store.subscribe("billing")
        try await held.acknowledge(upTo: 1)
        try server.control("stop")
        // With the server gone, acknowledging and subscribing fail as unavailable, within the timeout.
        do {
            try await withHangGuard { try await held.acknowledge(upTo: 2) }
            Issue.record("acknowledged with the server stopped")
        } catch EventStoreError.unavailable {
        }
        do {
            _ = try await withHangGuard { try await store.subscribe("other") }
            Issue.record("subscribed with the server stopped")
        } catch EventStoreError.unavailable {
        }
        // Closing the store releases the open subscription: bounded, though the server is gone.
        try await withHangGuard { try await store.close() }
        try server.control("start")
        // The lock went with the server's sessions: another store takes the name where it was.
        let again = try await PostgresEventStore.open(url: server.url, options: options)
        let taken = try await again.subscribe("billing")
        #expect(await taken.position == 1)
        #expect(
            try await again.subscriptions() == [SubscriptionInfo(name: "billing", stream: "@all", position: 1, lag: 1)])
        try await taken.close()
        try await again.close()
    }
}

/// What the writers of the restart test count.
final class Tally: Sendable {
    let acknowledged = Mutex(0)
    let unavailable = Mutex<[String]>([])
}

/// A throwaway PostgreSQL server of its own, started with scripts/postgres-test-server.sh (which
/// removes it when its command, a `cat` of our pipe, ends).
final class PrivateServer: Sendable {
    let url: String
    private let controlCommand: [String]
    private let child: ChildProcess

    init() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/postgres-test-server.sh").path
        var environment = ProcessInfo.processInfo.environment
        environment["EVENTSOURCING_POSTGRES_URL"] = nil
        child = try ChildProcess(
            executable: "/bin/bash",
            arguments: [
                script, "run", "--", "bash", "-c",
                #"echo "$EVENTSOURCING_POSTGRES_URL"; echo "$EVENTSOURCING_POSTGRES_CONTROL"; exec cat >/dev/null"#,
            ], environment: environment, stdin: .pipe, stdout: .pipe, stderr: .null)
        var text = ""
        while text.filter({ $0 == "\n" }).count < 2, let chunk = ChildProcess.readChunk(child.output!) {
            text += String(decoding: chunk, as: UTF8.self)
        }
        let lines = text.split(separator: "\n").map(String.init)
        guard lines.count >= 2 else {
            child.closeInput()
            throw EventStoreError.io("the test server did not start (\(child.wait()))")
        }
        url = lines[0]
        controlCommand = lines[1].split(separator: " ").map(String.init)
    }

    /// `stop` (immediate mode) or `start`.
    func control(_ command: String) throws {
        let run = try ChildProcess(
            executable: "/usr/bin/env", arguments: controlCommand + [command], stdin: .null, stdout: .null,
            stderr: .pipe)
        let errors = String(decoding: ChildProcess.readToEnd(run.errors!), as: UTF8.self)
        let termination = run.wait()
        guard termination == .exited(0) else {
            throw EventStoreError.io("the server control '\(command)' failed (\(termination)): \(errors)")
        }
    }

    /// Ends the server and removes its files.
    func remove() {
        child.closeInput()
        _ = child.wait(seconds: 60)
    }
}
