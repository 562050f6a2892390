/// The SQL of stream lifecycles (deletion, tombstones, truncation, retention, compaction).
///
/// A table of this package's own, which py-event-sourcing ignores, created by the first lifecycle
/// change so that a database never given one keeps exactly Python's layout. One row per stream
/// ever changed, never deleted:
///
///     stream_lifecycle
///     +----------------+----------------+------------+-----------+----------------+--------------+---------------+
///     | stream_id TEXT | hidden_through | tombstoned | max_count | max_age_micros | last_version | removed_count |
///     | PRIMARY KEY    | INTEGER        | INTEGER 0/1| INTEGER?  | INTEGER?       | INTEGER      | INTEGER       |
///     +----------------+----------------+------------+-----------+----------------+--------------+---------------+
///
/// `last_version` is the stream's version when it was last changed or compacted: compaction may
/// remove a stream's newest rows, and its version (`MAX(version)` otherwise) must not go back.
/// `removed_count` counts the rows compaction removed, so that the number of rows of `events` is
/// the head sequence id minus their sum (ids are gap-free until compaction). Sequence ids are
/// never reused: `events.id` is `AUTOINCREMENT`, whose `sqlite_sequence` row keeps the highest id
/// ever given, and `VACUUM` keeps it.
///
/// Reads join the table and return five more columns after `eventColumns` (see
/// `lifecycleColumns`); the rule itself (`StreamLifecycle.hides`) is applied in Swift, except the
/// part by version, which SQL applies too to skip what is certainly hidden.
extension SQLiteSchema {
    static let createLifecycle = """
        CREATE TABLE IF NOT EXISTS stream_lifecycle (
            stream_id TEXT PRIMARY KEY,
            hidden_through INTEGER NOT NULL,
            tombstoned INTEGER NOT NULL,
            max_count INTEGER,
            max_age_micros INTEGER,
            last_version INTEGER NOT NULL,
            removed_count INTEGER NOT NULL DEFAULT 0
        )
        """
    static let lifecycleExists =
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stream_lifecycle'"
    static let lifecycleRowColumns =
        "hidden_through, tombstoned, max_count, max_age_micros, last_version, removed_count"
    static let lifecycleOf = "SELECT \(lifecycleRowColumns) FROM stream_lifecycle WHERE stream_id = ?1"
    static let allLifecycles = "SELECT stream_id, \(lifecycleRowColumns) FROM stream_lifecycle ORDER BY stream_id"
    static let saveLifecycle = """
        INSERT INTO stream_lifecycle
            (stream_id, hidden_through, tombstoned, max_count, max_age_micros, last_version)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6)
        ON CONFLICT (stream_id) DO UPDATE SET
            hidden_through = excluded.hidden_through, tombstoned = excluded.tombstoned,
            max_count = excluded.max_count, max_age_micros = excluded.max_age_micros,
            last_version = MAX(last_version, excluded.last_version)
        """
    static let recordCompaction = """
        UPDATE stream_lifecycle SET last_version = MAX(last_version, ?2), removed_count = removed_count + ?3
        WHERE stream_id = ?1
        """
    static let deleteSnapshotsOfStream = "DELETE FROM snapshots WHERE stream_id = ?1"

    /// A key's event, to tell whether it is hidden.
    static let keyEvent = "SELECT id, version, timestamp FROM events WHERE stream_id = ?1 AND idempotency_key = ?2"
    /// Frees the key of a hidden event for a new one (`UNIQUE(stream_id, idempotency_key)`).
    static let forgetKey = "UPDATE events SET idempotency_key = NULL WHERE id = ?1"

    /// The version of the stream of lifecycle row `l` (its newest rows may be compacted away).
    static func version(of l: String) -> String {
        "MAX(\(l).last_version, COALESCE((SELECT MAX(x.version) FROM events x WHERE x.stream_id = \(l).stream_id), 0))"
    }

    /// `StreamLifecycle.hiddenThrough(streamVersion:)` of lifecycle row `l`.
    static func hiddenThrough(of l: String) -> String {
        "MAX(\(l).hidden_through, CASE WHEN \(l).max_count IS NULL THEN 0 ELSE \(version(of: l)) - \(l).max_count END)"
    }

    /// What a read joins to each event: the stream's lifecycle (NULLs for none) and, when it has a
    /// `maxCount`, its version (0 otherwise, where the rule does not need it).
    static let lifecycleColumns =
        "l.hidden_through, l.tombstoned, l.max_count, l.max_age_micros, "
        + "CASE WHEN l.max_count IS NULL THEN 0 ELSE \(version(of: "l")) END"
    static let joinedEventColumns =
        "e.id, e.stream_id, e.idempotency_key, e.event_type, e.timestamp, e.metadata, e.data, e.version"
    static let joinLifecycle = "events e LEFT JOIN stream_lifecycle l ON l.stream_id = e.stream_id"
    /// Versions of stream ?1 at or below this are hidden whatever their age.
    static let streamHiddenThrough =
        "COALESCE((SELECT \(hiddenThrough(of: "b")) FROM stream_lifecycle b WHERE b.stream_id = ?1), 0)"

    static let readStreamForwardWithLifecycle = """
        SELECT \(joinedEventColumns), \(lifecycleColumns) FROM \(joinLifecycle)
        WHERE e.stream_id = ?1 AND e.version > ?2 AND e.version > \(streamHiddenThrough)
        ORDER BY e.version LIMIT ?3
        """
    static let readStreamBackwardWithLifecycle = """
        SELECT \(joinedEventColumns), \(lifecycleColumns) FROM \(joinLifecycle)
        WHERE e.stream_id = ?1 AND e.version < ?2 AND e.version > \(streamHiddenThrough)
        ORDER BY e.version DESC LIMIT ?3
        """
    static let readAllForwardWithLifecycle = """
        SELECT \(joinedEventColumns), \(lifecycleColumns) FROM \(joinLifecycle)
        WHERE e.id > ?2 AND (l.stream_id IS NULL OR e.version > \(hiddenThrough(of: "l")))
        ORDER BY e.id LIMIT ?3
        """
    static let readAllBackwardWithLifecycle = """
        SELECT \(joinedEventColumns), \(lifecycleColumns) FROM \(joinLifecycle)
        WHERE e.id < ?2 AND (l.stream_id IS NULL OR e.version > \(hiddenThrough(of: "l")))
        ORDER BY e.id DESC LIMIT ?3
        """

    /// The head sequence id: the highest id ever given, also when compaction removed the newest rows.
    static let globalHeadWithLifecycle = """
        SELECT MAX(COALESCE((SELECT MAX(id) FROM events), 0),
                   COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)),
               (SELECT COALESCE(SUM(removed_count), 0) FROM stream_lifecycle)
        """
    /// Rows hidden by version (not yet compacted away), over every stream.
    static let hiddenByVersionCount = """
        SELECT COUNT(*) FROM stream_lifecycle l JOIN events e
        ON e.stream_id = l.stream_id AND e.version <= \(hiddenThrough(of: "l"))
        """
    /// Rows of streams with a `maxAge` not hidden by version, to apply the age rule to.
    static let ageCandidates = """
        SELECT e.version, e.timestamp, \(lifecycleColumns) FROM stream_lifecycle l JOIN events e
        ON e.stream_id = l.stream_id AND e.version > \(hiddenThrough(of: "l"))
        WHERE l.max_age_micros IS NOT NULL
        """
    /// Rows of stream ?1 above version ?2, newest first.
    static let streamRowsAbove =
        "SELECT version, timestamp FROM events WHERE stream_id = ?1 AND version > ?2 ORDER BY version DESC"
    /// Rows of stream ?1 at or below version ?2 (hidden, not yet compacted away).
    static let streamRowCountThrough = "SELECT COUNT(*) FROM events WHERE stream_id = ?1 AND version <= ?2"

    /// Compaction: the rows of stream ?1 hidden by version, and those above it, to check by age.
    static let deleteStreamThrough = "DELETE FROM events WHERE stream_id = ?1 AND version <= ?2"
    static let streamRowIDsAbove =
        "SELECT id, version, timestamp FROM events WHERE stream_id = ?1 AND version > ?2 ORDER BY version"
    static let deleteEvent = "DELETE FROM events WHERE id = ?1"
    static let vacuum = "VACUUM"
    static let checkpointTruncate = "PRAGMA wal_checkpoint(TRUNCATE)"
    static let secureDelete = "PRAGMA secure_delete"

    /// Stream ids from ?1 (inclusive, or exclusive when `after` is the bound) below ?2, at most ?3.
    static func streamIDs(exclusive: Bool, lifecycle: Bool) -> String {
        let range = "stream_id \(exclusive ? ">" : ">=") ?1 AND stream_id < ?2"
        guard lifecycle else {
            return "SELECT DISTINCT stream_id FROM events WHERE \(range) ORDER BY stream_id LIMIT ?3"
        }
        return """
            SELECT s FROM (
                SELECT DISTINCT stream_id AS s FROM events WHERE \(range)
                UNION SELECT stream_id FROM stream_lifecycle WHERE \(range)
            ) LEFT JOIN stream_lifecycle l ON l.stream_id = s
            WHERE l.stream_id IS NULL OR (l.tombstoned = 0 AND \(version(of: "l")) > l.hidden_through)
            ORDER BY s LIMIT ?3
            """
    }
    static let streamIDsFrom = streamIDs(exclusive: false, lifecycle: false)
    static let streamIDsAfter = streamIDs(exclusive: true, lifecycle: false)
    static let streamIDsFromWithLifecycle = streamIDs(exclusive: false, lifecycle: true)
    static let streamIDsAfterWithLifecycle = streamIDs(exclusive: true, lifecycle: true)
}
