import EventSourcingCore
import Logging
import NIOCore
import PostgresNIO

/// Wakes this store's watchers when any process appends: one dedicated connection `LISTEN`s on the
/// store's channel (the payload, the new head, is only a hint; watchers re-read by position).
///
/// After a lost connection it connects again (every 100 ms at first, backing off to 1 s), listens
/// again and wakes every watcher to re-read, so nothing committed meanwhile is missed. Whether its
/// attempts to connect succeed is what `PostgresReachability` reports. A slow poll
/// of the head (`Options.pollInterval`) covers a notification lost any other way.
///
/// Thread-safety: its state is two tasks, started in `init` and cancelled by `stop`.
final class PostgresListener: Sendable {
    private let listening: Task<Void, Never>
    private let polling: Task<Void, Never>

    init(
        configuration: PostgresConnection.Configuration, client: PostgresClient, schema: PostgresSchema,
        options: PostgresEventStore.Options, hub: WatchHub, reachability: PostgresReachability
    ) {
        let logger = options.logger
        listening = Task {
            var pause = Duration.milliseconds(100)
            var connectionID = 0
            while !Task.isCancelled {
                do {
                    connectionID += 1
                    let connection: PostgresConnection
                    do {
                        connection = try await PostgresConnection.connect(
                            configuration: configuration, id: connectionID, logger: logger)
                    } catch {
                        if !Task.isCancelled { reachability.update(PostgresErrors.describe(error)) }
                        throw error
                    }
                    reachability.update(nil)
                    pause = .milliseconds(100)
                    do {
                        try await connection.listen(on: schema.channel) { notifications in
                            // Listening from here on: what was committed before is read again.
                            hub.notify(streamID: nil)
                            for try await _ in notifications { hub.notify(streamID: nil) }
                        }
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    try? await connection.close()
                } catch {
                    if Task.isCancelled { break }
                    logger.debug("listening for appends failed; connecting again", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(1))
                }
            }
        }
        polling = Task {
            let query = PostgresQuery(unsafeSQL: "SELECT sequence_id FROM \(schema.table("head"))")
            var last: Int64?
            while !Task.isCancelled {
                try? await Task.sleep(for: options.pollInterval)
                if Task.isCancelled { break }
                let head = try? await withTimeout(options.timeout, "polling the head") {
                    try await client.query(query, logger: logger).collect().first?.decode(Int64.self)
                }
                if let head, head != last {
                    if last != nil { hub.notify(streamID: nil) }
                    last = head
                }
            }
        }
    }

    /// Stops listening and polling, and waits for both.
    func stop() async {
        listening.cancel()
        polling.cancel()
        await listening.value
        await polling.value
    }
}
