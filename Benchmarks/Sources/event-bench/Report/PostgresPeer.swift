/// The peer the PostgreSQL store is to beat (shared/spec/POSTGRES.md, "Measured"): the Python
/// `eventsourcing` library's PostgreSQL recorder (PyPI 9.5.6), measured on a machine like ours
/// against the same PostgreSQL 15. Its figures are quoted from the spec, not measured by this run;
/// the report sets the figures of this run beside them.
enum PostgresPeer {
    /// One figure of the peer, and the figure of this run that does the same work.
    struct Reference: Sendable {
        /// What the peer did: `W1 write`.
        let label: String
        /// The peer's rate, events/s.
        let eventsPerSecond: Double
        /// Our figure for the same work.
        let workload: Workload
        let key: String
        /// How the report names our figure: `W1 write`.
        let ours: String
    }

    static let name = "Python eventsourcing 9.5.6, PostgreSQL recorder"

    static let references: [Reference] = [
        Reference(
            label: "W1 write", eventsPerSecond: 61_000, workload: .w1, key: "write_events_per_s", ours: "W1 write"),
        Reference(
            label: "read one stream", eventsPerSecond: 160_000, workload: .w1, key: "replay_events_per_s",
            ours: "W1 replay"),
        Reference(
            label: "read all notifications", eventsPerSecond: 271_000, workload: .w2, key: "all_replay_events_per_s",
            ours: "W2 @all replay"),
        Reference(
            label: "durable single-event writes, 1 writer", eventsPerSecond: 1_206, workload: .w3,
            key: "writers_1_events_per_s", ours: "W3 1 writer"),
        Reference(
            label: "durable single-event writes, 8 writers", eventsPerSecond: 1_384, workload: .w3,
            key: "writers_8_events_per_s", ours: "W3 8 writers"),
    ]

    /// The aims of the spec: at least this many times the peer's W1 write ...
    static let writeAim = 2.0
    /// ... and its 8-writer rate.
    static let eightWritersAim = 5.0

    static func reference(_ key: String) -> Reference {
        guard let reference = references.first(where: { $0.key == key }) else {
            preconditionFailure("no peer figure for \(key)")
        }
        return reference
    }

    /// `W1 write 61,000/s, read one stream 160,000/s, ...`: the reference line.
    static var summary: String {
        references.map { "\($0.label) \(Format.grouped($0.eventsPerSecond))/s" }.joined(separator: ", ")
    }
}
