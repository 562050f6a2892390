/// The tables, exactly as the Python py-event-sourcing package (1.0.3) creates them, so that a
/// database written by either one is read by the other. This module holds the package's only SQL.
enum SQLiteSchema {
    static let createEvents = """
        CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            stream_id TEXT NOT NULL,
            idempotency_key TEXT,
            event_type TEXT NOT NULL,
            timestamp TEXT NOT NULL,
            metadata TEXT,
            data BLOB,
            version INTEGER NOT NULL,
            UNIQUE(stream_id, version),
            UNIQUE(stream_id, idempotency_key)
        )
        """

    static let createSnapshots = """
        CREATE TABLE IF NOT EXISTS snapshots (
            stream_id TEXT NOT NULL,
            projection_name TEXT NOT NULL,
            version INTEGER NOT NULL,
            state BLOB NOT NULL,
            timestamp TEXT NOT NULL,
            PRIMARY KEY (stream_id, projection_name)
        )
        """

    static let eventColumns = "id, stream_id, idempotency_key, event_type, timestamp, metadata, data, version"

    static let streamVersion = "SELECT MAX(version) FROM events WHERE stream_id = ?1"
    static let streamHead =
        "SELECT version, timestamp FROM events WHERE stream_id = ?1 ORDER BY version DESC LIMIT 1"
    static let globalHead = "SELECT id, timestamp FROM events ORDER BY id DESC LIMIT 1"
    static let keyExists = "SELECT 1 FROM events WHERE stream_id = ?1 AND idempotency_key = ?2"
    static let insertEvent = """
        INSERT INTO events (stream_id, idempotency_key, event_type, timestamp, metadata, data, version)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
        """
    static let readStreamForward =
        "SELECT \(eventColumns) FROM events WHERE stream_id = ?1 AND version > ?2 ORDER BY version LIMIT ?3"
    static let readStreamBackward =
        "SELECT \(eventColumns) FROM events WHERE stream_id = ?1 AND version < ?2 ORDER BY version DESC LIMIT ?3"
    static let readAllForward = "SELECT \(eventColumns) FROM events WHERE id > ?2 ORDER BY id LIMIT ?3"
    static let readAllBackward = "SELECT \(eventColumns) FROM events WHERE id < ?2 ORDER BY id DESC LIMIT ?3"
    static let saveSnapshot = """
        INSERT OR REPLACE INTO snapshots (stream_id, projection_name, version, state, timestamp)
        VALUES (?1, ?2, ?3, ?4, ?5)
        """
    static let allSnapshots =
        "SELECT stream_id, projection_name, version, state, timestamp FROM snapshots ORDER BY rowid"
    static let streamCount = "SELECT COUNT(DISTINCT stream_id) FROM events"
    static let snapshotCount = "SELECT COUNT(*) FROM snapshots"
    static let integrityCheck = "PRAGMA integrity_check"
    static let loadSnapshot = """
        SELECT stream_id, projection_name, version, state, timestamp FROM snapshots
        WHERE stream_id = ?1 AND projection_name = ?2
        """

    /// Subscriptions: a table of this package's own, which py-event-sourcing ignores. Created on
    /// the first `subscribe`, so that a file without subscriptions stays exactly Python's layout.
    static let createSubscriptions = """
        CREATE TABLE IF NOT EXISTS subscriptions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            stream_id TEXT NOT NULL,
            filter TEXT,
            position INTEGER NOT NULL
        )
        """
    static let subscriptionsExist = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'subscriptions'"
    static let subscriptionColumns = "id, name, stream_id, filter, position"
    static let subscriptionByName = "SELECT \(subscriptionColumns) FROM subscriptions WHERE name = ?1"
    static let allSubscriptions = "SELECT \(subscriptionColumns) FROM subscriptions ORDER BY name"
    static let insertSubscription = """
        INSERT INTO subscriptions (name, stream_id, filter, position) VALUES (?1, ?2, ?3, ?4)
        ON CONFLICT (name) DO NOTHING
        """
    static let recordSubscriptionPosition = "UPDATE subscriptions SET position = ?2 WHERE id = ?1"
    static let deleteSubscription = "DELETE FROM subscriptions WHERE id = ?1"
}
