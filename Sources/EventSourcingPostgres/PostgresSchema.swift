import EventSourcingCore

/// The tables and the append function of a PostgreSQL store, in a schema of their own.
///
/// - `head`: one row, the counter of global sequence ids. An append transaction updates it as its
///   last step before inserting and committing, so the row lock orders commits: the transaction
///   that takes ids 8–9 waits until the one that took 1–7 has committed or rolled back (and a
///   rollback returns its ids). `@all` is therefore gap-free and in commit order, and a reader's
///   snapshot always holds a prefix of it.
/// - `streams`: one row per stream with its version, locked by every append to it.
/// - `events`: every event; `metadata` is `jsonb` (filters run in SQL), `data` is `bytea`.
/// - `snapshots`: the latest state per stream and projection.
/// - `schema_version`: the layout's version, so that a later release can migrate.
struct PostgresSchema {
    /// The layout this release writes and reads.
    static let version = 1
    /// The channel of `NOTIFY`; its payload is the new head (a hint only).
    let channel: String
    /// The schema name, quoted for SQL.
    let quoted: String

    init(name: String) {
        quoted = "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        channel = "event_sourcing_" + String(StableHash.hash(name), radix: 16)
    }

    /// The name of a table or function, qualified by the schema.
    func table(_ name: String) -> String { quoted + "." + name }

    /// Creates everything that is missing (idempotent, in one transaction by the caller).
    var creation: [String] {
        [
            "CREATE SCHEMA IF NOT EXISTS \(quoted)",
            """
            CREATE TABLE IF NOT EXISTS \(table("schema_version")) (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                version integer NOT NULL)
            """,
            "INSERT INTO \(table("schema_version")) (version) VALUES (\(Self.version)) ON CONFLICT DO NOTHING",
            """
            CREATE TABLE IF NOT EXISTS \(table("head")) (
                singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                sequence_id bigint NOT NULL)
            """,
            "INSERT INTO \(table("head")) (sequence_id) VALUES (0) ON CONFLICT DO NOTHING",
            """
            CREATE TABLE IF NOT EXISTS \(table("streams")) (
                stream_id text PRIMARY KEY COLLATE "C",
                version bigint NOT NULL DEFAULT 0,
                last_recorded_at timestamptz)
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("events")) (
                sequence_id bigint PRIMARY KEY,
                stream_id text COLLATE "C" NOT NULL,
                version bigint NOT NULL,
                idempotency_key text COLLATE "C",
                event_type text COLLATE "C" NOT NULL,
                recorded_at timestamptz NOT NULL,
                metadata jsonb,
                data bytea NOT NULL,
                UNIQUE (stream_id, version))
            """,
            """
            CREATE UNIQUE INDEX IF NOT EXISTS events_idempotency_key ON \(table("events"))
                (stream_id, idempotency_key) WHERE idempotency_key IS NOT NULL
            """,
            """
            CREATE TABLE IF NOT EXISTS \(table("snapshots")) (
                stream_id text COLLATE "C" NOT NULL,
                projection text COLLATE "C" NOT NULL,
                version bigint NOT NULL,
                state bytea NOT NULL,
                recorded_at timestamptz NOT NULL,
                PRIMARY KEY (stream_id, projection))
            """,
            appendFunction,
        ]
    }

    /// `append_batch`: one round trip for a group of appends (each a stream, an expected version,
    /// a timestamp and a run of events in the flattened event arrays). Per append it locks the
    /// stream row (all of them first, in sorted order, so groups never deadlock), drops events
    /// whose key the stream holds (or an earlier append of the group stored), and checks the
    /// expected version (-1 any, -2 the stream exists, n exactly n). Then it takes the ids from
    /// `head`, inserts every kept event with one statement and notifies. It returns, per append,
    /// 0, the new version and the number stored, or 1 and the actual version on a conflict (that
    /// append stores nothing).
    var appendFunction: String {
        """
        CREATE OR REPLACE FUNCTION \(table("append_batch"))(
            r_stream text[], r_expected bigint[], r_count integer[], r_micros bigint[],
            e_type text[], e_has_key boolean[], e_key text[], e_metadata text[], e_data bytea[])
        RETURNS TABLE (outcome integer, stream_version bigint, appended integer)
        LANGUAGE plpgsql AS $body$
        DECLARE
            requests integer := coalesce(array_length(r_stream, 1), 0);
            first_event integer := 1;
            current_version bigint;
            kept integer[];
            kept_count integer;
            recorded timestamptz;
            accepted_index integer[] := '{}';
            accepted_version bigint[] := '{}';
            accepted_request integer[] := '{}';
            accepted_key_stream text[] := '{}';
            accepted_key text[] := '{}';
            total integer := 0;
            base bigint;
        BEGIN
            INSERT INTO \(table("streams")) (stream_id)
                SELECT DISTINCT s FROM unnest(r_stream) AS s ORDER BY 1 ON CONFLICT DO NOTHING;
            PERFORM 1 FROM \(table("streams")) WHERE stream_id = ANY (r_stream) ORDER BY stream_id FOR UPDATE;
            FOR i IN 1 .. requests LOOP
                SELECT version INTO current_version FROM \(table("streams")) WHERE stream_id = r_stream[i];
                SELECT coalesce(array_agg(idx ORDER BY idx), '{}') INTO kept
                    FROM generate_series(first_event, first_event + r_count[i] - 1) AS idx
                    WHERE NOT e_has_key[idx]
                        OR (NOT EXISTS (SELECT 1 FROM \(table("events")) e
                                WHERE e.stream_id = r_stream[i] AND e.idempotency_key = e_key[idx])
                            AND NOT EXISTS (SELECT 1 FROM unnest(accepted_key_stream, accepted_key) AS a(s, k)
                                WHERE a.s = r_stream[i] AND a.k = e_key[idx]));
                first_event := first_event + r_count[i];
                kept_count := coalesce(array_length(kept, 1), 0);
                IF kept_count = 0 THEN
                    outcome := 0; stream_version := current_version; appended := 0; RETURN NEXT; CONTINUE;
                END IF;
                IF (r_expected[i] = -2 AND current_version = 0)
                    OR (r_expected[i] >= 0 AND current_version <> r_expected[i]) THEN
                    outcome := 1; stream_version := current_version; appended := 0; RETURN NEXT; CONTINUE;
                END IF;
                recorded := CASE WHEN r_micros[i] < 0 THEN now()
                    ELSE timestamptz 'epoch' + r_micros[i] * interval '1 microsecond' END;
                accepted_index := accepted_index || kept;
                accepted_version := accepted_version
                    || ARRAY(SELECT current_version + o FROM generate_series(1, kept_count) AS o);
                accepted_request := accepted_request || array_fill(i, ARRAY[kept_count]);
                IF requests > 1 THEN
                    accepted_key_stream := accepted_key_stream
                        || ARRAY(SELECT r_stream[i] FROM unnest(kept) AS k WHERE e_has_key[k]);
                    accepted_key := accepted_key || ARRAY(SELECT e_key[k] FROM unnest(kept) AS k WHERE e_has_key[k]);
                END IF;
                UPDATE \(table("streams")) SET version = current_version + kept_count, last_recorded_at = recorded
                    WHERE stream_id = r_stream[i];
                total := total + kept_count;
                outcome := 0; stream_version := current_version + kept_count; appended := kept_count; RETURN NEXT;
            END LOOP;
            IF total > 0 THEN
                UPDATE \(table("head")) SET sequence_id = sequence_id + total RETURNING sequence_id - total INTO base;
                INSERT INTO \(table("events"))
                    (sequence_id, stream_id, version, idempotency_key, event_type, recorded_at, metadata, data)
                SELECT base + a.ordinal, r_stream[a.request], a.version,
                    CASE WHEN e_has_key[a.idx] THEN e_key[a.idx] END, e_type[a.idx],
                    CASE WHEN r_micros[a.request] < 0 THEN now()
                        ELSE timestamptz 'epoch' + r_micros[a.request] * interval '1 microsecond' END,
                    CASE WHEN e_metadata[a.idx] = '' THEN NULL ELSE e_metadata[a.idx]::jsonb END, e_data[a.idx]
                FROM unnest(accepted_index, accepted_version, accepted_request)
                    WITH ORDINALITY AS a(idx, version, request, ordinal);
                PERFORM pg_notify('\(channel)', (base + total)::text);
            END IF;
        END
        $body$
        """
    }

    /// The columns every event query selects, in `PostgresStorage.event(from:)`'s order.
    var eventColumns: String {
        "e.sequence_id, e.stream_id, e.version, e.idempotency_key, e.event_type, "
            + "(extract(epoch FROM e.recorded_at) * 1000000)::bigint, e.metadata::text, e.data"
    }
}
