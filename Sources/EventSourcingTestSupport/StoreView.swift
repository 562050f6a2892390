import EventSourcingCore
import Foundation

/// What a store shows through its public API, for comparing a recovered log store with its
/// in-memory model: every visible event of `@all` (all but the timestamp, which the model cannot
/// share), each stream's head (version and visible count), the streams `streamIDs()` lists, each
/// stream's retention, and its snapshot.
///
/// Thread-safety: a value type.
package struct StoreView: Sendable, Equatable {
    /// A visible event, less its timestamp.
    package struct Event: Sendable, Equatable, CustomStringConvertible {
        package var sequenceID: Int64
        package var streamID: String
        package var version: Int64
        package var type: String
        package var data: Data
        package var metadata: [String: JSONValue]?
        package var id: String

        init(_ event: StoredEvent) {
            sequenceID = event.sequenceID
            streamID = event.streamID
            version = event.version
            type = event.type
            data = event.data
            metadata = event.metadata
            id = event.id
        }

        package var description: String {
            "#\(sequenceID) '\(streamID)' v\(version) \(type) id \(id), \(data.count) bytes"
        }
    }

    /// A stream's head: its version (a sequence id for `@all`) and how many events it shows.
    package struct Head: Sendable, Equatable, CustomStringConvertible {
        package var version: Int64
        package var eventCount: Int64

        package var description: String { "version \(version), \(eventCount) events" }
    }

    package var events: [Event] = []
    /// Heads of `@all` and of every stream asked for.
    package var heads: [String: Head] = [:]
    /// `streamIDs()`.
    package var listed: [String] = []
    /// The `maxCount` of each stream asked for that has a retention.
    package var retentions: [String: Int64] = [:]
    /// The snapshot (projection "default") of each stream asked for that has one: its version and state.
    package var snapshots: [String: Snapshot] = [:]

    /// A snapshot, less its timestamp.
    package struct Snapshot: Sendable, Equatable, CustomStringConvertible {
        package var version: Int64
        package var state: Data

        package var description: String { "version \(version), \(state.count) bytes" }
    }

    /// Reads the view of `store` for `streams`, checking on the way that its reads agree with each
    /// other (the log store's indexes with its log): each stream forward, backward and from the
    /// middle gives exactly its events in `@all`, timestamps included; `@all` backward and from the
    /// middle gives the same as forward; every head counts what its stream shows and names its
    /// newest timestamp.
    /// - Returns: the view, and the disagreements (empty when the reads agree).
    package static func read(_ store: any EventStore, streams: [String]) async throws -> (StoreView, [String]) {
        var view = StoreView()
        var problems: [String] = []
        let all = try await Self.events(store, "@all")
        view.events = all.map(Event.init)
        let allStream = try await store.stream("@all")
        if try await Self.events(store, "@all", direction: .backward) != all.reversed() {
            problems.append("reading @all backward does not give it forward reversed")
        }
        if all.count > 2 {
            let from = all[all.count / 2].sequenceID
            if try await Self.events(store, "@all", from: from) != all.filter({ $0.sequenceID > from }) {
                problems.append("reading @all from \(from) differs from reading it whole")
            }
        }
        let allMetrics = try await allStream.metrics()
        view.heads["@all"] = Head(version: allMetrics.currentVersion, eventCount: allMetrics.eventCount)
        if allMetrics.eventCount != Int64(all.count) || allMetrics.currentVersion < all.last?.sequenceID ?? 0 {
            problems.append(
                "@all reports \(Head(version: allMetrics.currentVersion, eventCount: allMetrics.eventCount)); it shows \(all.count) events up to #\(all.last?.sequenceID ?? 0)"
            )
        }
        for streamID in streams {
            let expected = all.filter { $0.streamID == streamID }
            let forward = try await Self.events(store, streamID)
            if forward != expected {
                problems.append(
                    "reading '\(streamID)' gives versions \(forward.map(\.version)) (#\(forward.map(\.sequenceID))); "
                        + "@all holds versions \(expected.map(\.version)) (#\(expected.map(\.sequenceID)))")
                continue
            }
            if try await Self.events(store, streamID, direction: .backward) != expected.reversed() {
                problems.append("reading '\(streamID)' backward does not give it forward reversed")
            }
            if expected.count > 1 {
                let middle = expected[expected.count / 2].version
                if try await Self.events(store, streamID, from: middle) != expected.filter({ $0.version > middle }) {
                    problems.append("reading '\(streamID)' from version \(middle) differs from reading it whole")
                }
                if try await Self.events(store, streamID, from: middle, direction: .backward)
                    != expected.filter({ $0.version < middle }).reversed()
                {
                    problems.append(
                        "reading '\(streamID)' backward from version \(middle) differs from reading it whole")
                }
            }
            let stream = try await store.stream(streamID)
            let metrics = try await stream.metrics()
            view.heads[streamID] = Head(version: metrics.currentVersion, eventCount: metrics.eventCount)
            if metrics.eventCount != Int64(expected.count) || metrics.lastTimestamp != expected.last?.timestamp
                || metrics.currentVersion < expected.last?.version ?? 0
            {
                problems.append(
                    "'\(streamID)' reports \(Head(version: metrics.currentVersion, eventCount: metrics.eventCount)), "
                        + "newest at \(String(describing: metrics.lastTimestamp)); it shows \(expected.count) events up to "
                        + "version \(expected.last?.version ?? 0), newest at \(String(describing: expected.last?.timestamp))"
                )
            }
            if let maxCount = try await stream.retention()?.maxCount { view.retentions[streamID] = maxCount }
            if let snapshot = try await stream.loadSnapshot() {
                view.snapshots[streamID] = Snapshot(version: snapshot.version, state: snapshot.state)
            }
        }
        view.listed = try await store.streamIDs()
        return (view, problems)
    }

    /// The view with the events below `floor` hidden, as a log store's retention hides them: they
    /// leave `@all` and the counts; versions, listings, retentions and snapshots stay.
    package func hiding(below floor: Int64) -> StoreView {
        guard floor > 1 else { return self }
        var view = self
        let hidden = events.filter { $0.sequenceID < floor }
        view.events.removeAll { $0.sequenceID < floor }
        for event in hidden { view.heads[event.streamID]?.eventCount -= 1 }
        view.heads["@all"]?.eventCount -= Int64(hidden.count)
        return view
    }

    /// The differences between this view (the recovered store's) and `expected` (the model's),
    /// the first few of each kind.
    /// - Parameter snapshotsMayBeAbsent: Streams whose snapshot may be gone where the model has
    ///   one: a deletion of unknown outcome removes the snapshots before it hides the events, so
    ///   one that did not take effect may still have removed them (a cache).
    package func differences(from expected: StoreView, snapshotsMayBeAbsent: Set<String> = []) -> [String] {
        var found: [String] = []
        if events != expected.events {
            let first =
                (0..<min(events.count, expected.events.count)).first { events[$0] != expected.events[$0] }
                ?? min(events.count, expected.events.count)
            let have = first < events.count ? "\(events[first])" : "nothing"
            let want = first < expected.events.count ? "\(expected.events[first])" : "nothing"
            let missing = Set(expected.events.map(\.sequenceID)).subtracting(events.map(\.sequenceID)).sorted()
            let extra = Set(events.map(\.sequenceID)).subtracting(expected.events.map(\.sequenceID)).sorted()
            found.append(
                "@all shows \(events.count) events, the model \(expected.events.count); the first difference is "
                    + "at position \(first): \(have), the model has \(want)"
                    + (missing.isEmpty
                        ? "" : "; missing #\(missing.prefix(12).map(String.init).joined(separator: ", #"))")
                    + (extra.isEmpty
                        ? "" : "; not in the model #\(extra.prefix(12).map(String.init).joined(separator: ", #"))"))
        }
        for streamID in Set(heads.keys).union(expected.heads.keys).sorted()
        where heads[streamID] != expected.heads[streamID] {
            found.append(
                "'\(streamID)' reports \(heads[streamID].map { "\($0)" } ?? "nothing"), the model "
                    + "\(expected.heads[streamID].map { "\($0)" } ?? "nothing")")
        }
        if listed != expected.listed { found.append("streamIDs() lists \(listed), the model \(expected.listed)") }
        if retentions != expected.retentions {
            found.append("the retentions (maxCount) are \(retentions), the model's \(expected.retentions)")
        }
        for streamID in Set(snapshots.keys).union(expected.snapshots.keys).sorted()
        where snapshots[streamID] != expected.snapshots[streamID]
            && !(snapshots[streamID] == nil && snapshotsMayBeAbsent.contains(streamID))
        {
            found.append(
                "the snapshot of '\(streamID)' is \(snapshots[streamID].map { "\($0)" } ?? "absent"), the model's "
                    + "\(expected.snapshots[streamID].map { "\($0)" } ?? "absent")")
        }
        return found
    }

    /// Every event of a read, in order.
    static func events(
        _ store: any EventStore, _ streamID: String, from: Int64 = 0, direction: ReadDirection = .forward
    ) async throws -> [StoredEvent] {
        var events: [StoredEvent] = []
        for try await event in try await store.stream(streamID).read(from: from, direction: direction) {
            events.append(event)
        }
        return events
    }
}
