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
/// - `subscriptions`: one row per durable subscription, with its stream, filter
///   (`EventFilter.storedText`) and acknowledged position; its `id` keys the advisory lock that
///   holds the name (see `PostgresSubscriptions`).
/// - `stream_lifecycle`: one row per stream that was ever deleted, tombstoned, truncated or given
///   a retention (`StreamLifecycle`): `hidden_through`, `tombstoned`, `max_count`,
///   `max_age_micros`. Rows are never removed (a compacted stream's version no longer counts its
///   events), so a store without any lifecycle change has none, and its reads skip the rule.
/// - `schema_version`: the layout's version, so that a later release can migrate.
struct PostgresSchema {
    /// The layout this release writes and reads. 1: the first; 2: `append_batch` takes each
    /// event's append (`e_request`) and runs in time linear in the group; 3: the `subscriptions`
    /// table; 4: the `stream_lifecycle` table, and `append_batch` refuses writes to tombstoned
    /// streams and ignores (and frees) the keys of hidden events. Each is the previous one plus
    /// what `creation` adds idempotently, so a writable open moves an older schema to this
    /// version by running `creation`; a read-only open reads an older one as it is (without the
    /// `subscriptions` table, it lists no subscriptions; without `stream_lifecycle`, nothing is
    /// hidden).
    static let version = 4
    /// The first layout with the `stream_lifecycle` table.
    static let lifecycleVersion = 4
    /// The channel of `NOTIFY`; its payload is the new head (a hint only).
    let channel: String
    /// The schema name, as given.
    let name: String
    /// The schema name, quoted for SQL.
    let quoted: String

    init(name: String) {
        self.name = name
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
            "UPDATE \(table("schema_version")) SET version = \(Self.version) WHERE version < \(Self.version)",
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
            """
            CREATE TABLE IF NOT EXISTS \(table("subscriptions")) (
                id bigserial PRIMARY KEY,
                name text COLLATE "C" NOT NULL UNIQUE,
                stream_id text COLLATE "C" NOT NULL,
                filter text,
                position bigint NOT NULL CHECK (position >= 0))
            """,
            // Version 4: what is hidden of each stream that ever had a lifecycle change.
            """
            CREATE TABLE IF NOT EXISTS \(table("stream_lifecycle")) (
                stream_id text PRIMARY KEY COLLATE "C",
                hidden_through bigint NOT NULL DEFAULT 0 CHECK (hidden_through >= 0),
                tombstoned boolean NOT NULL DEFAULT false,
                max_count bigint CHECK (max_count >= 1),
                max_age_micros bigint CHECK (max_age_micros >= 0))
            """,
            // Version 1's function, with the old arguments.
            """
            DROP FUNCTION IF EXISTS \(table("append_batch"))(
                text[], bigint[], integer[], bigint[], text[], boolean[], text[], text[], bytea[])
            """,
            """
            DROP FUNCTION IF EXISTS \(table("append_batch"))(
                text[], bigint[], integer[], bigint[], integer[], text[], boolean[], text[], text[], bytea[])
            """,
            appendFunction,
        ]
    }

    /// `append_batch`: one round trip for a group of appends (each a stream, an expected version,
    /// a timestamp and a run of events in the flattened event arrays; `e_request` names each
    /// event's append). Per append it locks the stream row (all of them first, in sorted order, so
    /// groups never deadlock), drops events whose key the stream holds (or an earlier append of the
    /// group stored), and checks the expected version (-1 any, -2 the stream exists, n exactly n;
    /// with `atomic`, the appends of one write to several streams are all checked first, and one
    /// failed check stores nothing: every append's row then says 1 or 2 (failed) or 0, and stored
    /// 0). An append with events to a tombstoned stream fails first (`AppendRequest.resolve`), and
    /// the key of a hidden event does not count as stored: the hidden row's key is cleared
    /// (`NULL`) before the new event takes it, so the unique index on keys holds. Then it takes
    /// the ids from `head`, inserts every kept event with one statement and notifies. It returns,
    /// per append, 0, the new version and the number stored, 1 and the actual version on a
    /// conflict, or 2 and the version for a tombstoned stream (a failed append stores nothing).
    ///
    /// Linear in the group's size: PostgreSQL finds the n-th element of an array of text or bytea
    /// by walking from its start, so those arrays are only ever read whole, by `unnest`; the loops
    /// subscript only arrays of fixed-width values, which is direct.
    var appendFunction: String {
        """
        CREATE OR REPLACE FUNCTION \(table("append_batch"))(
            r_stream text[], r_expected bigint[], r_count integer[], r_micros bigint[], e_request integer[],
            e_type text[], e_has_key boolean[], e_key text[], e_metadata text[], e_data bytea[], atomic boolean)
        RETURNS TABLE (outcome integer, stream_version bigint, appended integer)
        LANGUAGE plpgsql AS $body$
        DECLARE
            requests integer := coalesce(array_length(r_stream, 1), 0);
            events integer := coalesce(array_length(e_request, 1), 0);
            i integer := 0;
            idx integer;
            stream text;
            first_event integer := 1;
            last_event integer;
            current_version bigint;
            kept_count integer;
            e_stored boolean[];      -- the event's key is in the stream already
            e_previous integer[];    -- the group's previous event with the same stream and key, or 0
            e_kept boolean[] := array_fill(false, ARRAY[events]);  -- stored, in an append not r_whole
            e_taken boolean[];       -- an event of the group up to this one stored this stream and key
            r_plain boolean[];       -- no event of the append is stored already or repeats a key
            r_whole boolean[] := array_fill(false, ARRAY[requests]);  -- plain, and stored whole
            previous integer;
            c_outcome integer[] := '{}';  -- atomic: each append's check
            c_version bigint[] := '{}';
            refused boolean := false;
            r_base bigint[] := array_fill(0::bigint, ARRAY[requests]);
            total integer := 0;
            base bigint;
            is_tombstoned boolean;
            any_lifecycle boolean;   -- a stream of the group has a stream_lifecycle row
        BEGIN
            INSERT INTO \(table("streams")) (stream_id)
                SELECT DISTINCT s FROM unnest(r_stream) AS s ORDER BY 1 ON CONFLICT DO NOTHING;
            PERFORM 1 FROM \(table("streams")) WHERE stream_id = ANY (r_stream) ORDER BY stream_id FOR UPDATE;
            any_lifecycle := EXISTS (SELECT 1 FROM \(table("stream_lifecycle")) WHERE stream_id = ANY (r_stream));
            SELECT array_agg(k.stored ORDER BY k.idx), array_agg(k.previous ORDER BY k.idx)
                INTO e_stored, e_previous
                FROM (SELECT ev.idx,
                        ev.has_key AND EXISTS (SELECT 1 FROM \(table("events")) e
                            WHERE e.stream_id = r.stream AND e.idempotency_key = ev.key
                                AND (NOT any_lifecycle OR NOT \(isHidden("e")))) AS stored,
                        CASE WHEN ev.has_key THEN coalesce(lag(ev.idx) OVER (
                            PARTITION BY r.stream, ev.has_key, ev.key ORDER BY ev.idx), 0) ELSE 0 END AS previous
                    FROM unnest(e_request, e_has_key, e_key) WITH ORDINALITY AS ev(request, has_key, key, idx)
                    JOIN unnest(r_stream) WITH ORDINALITY AS r(stream, request) ON r.request = ev.request) AS k;
            SELECT array_agg(coalesce(p.plain, true) ORDER BY r.request) INTO r_plain
                FROM generate_series(1, requests) AS r(request)
                LEFT JOIN (SELECT e_request[g] AS request, bool_and(NOT e_stored[g] AND e_previous[g] = 0) AS plain
                    FROM generate_series(1, events) AS g GROUP BY 1) AS p ON p.request = r.request;
            e_taken := e_kept;
            IF atomic THEN
                -- A write to several streams (each stream once, so no key of one append concerns
                -- another) is checked whole first: one failed check, and nothing is stored.
                FOREACH stream IN ARRAY r_stream LOOP
                    i := i + 1;
                    last_event := first_event + r_count[i] - 1;
                    SELECT s.version, coalesce(l.tombstoned, false) INTO current_version, is_tombstoned
                        FROM \(table("streams")) s LEFT JOIN \(table("stream_lifecycle")) l ON l.stream_id = s.stream_id
                        WHERE s.stream_id = stream;
                    SELECT count(*) INTO kept_count FROM generate_series(first_event, last_event) AS g
                        WHERE NOT e_stored[g];
                    first_event := last_event + 1;
                    c_version := c_version || current_version;
                    IF is_tombstoned AND r_count[i] > 0 THEN
                        c_outcome := c_outcome || 2;
                        refused := true;
                    ELSIF kept_count > 0 AND ((r_expected[i] = -2 AND current_version = 0)
                        OR (r_expected[i] >= 0 AND current_version <> r_expected[i])) THEN
                        c_outcome := c_outcome || 1;
                        refused := true;
                    ELSE
                        c_outcome := c_outcome || 0;
                    END IF;
                END LOOP;
                IF refused THEN
                    RETURN QUERY SELECT c.outcome, c.version, 0 FROM unnest(c_outcome, c_version) AS c(outcome, version);
                    RETURN;
                END IF;
                i := 0;
                first_event := 1;
            END IF;
            FOREACH stream IN ARRAY r_stream LOOP
                i := i + 1;
                last_event := first_event + r_count[i] - 1;
                SELECT s.version, coalesce(l.tombstoned, false) INTO current_version, is_tombstoned
                    FROM \(table("streams")) s LEFT JOIN \(table("stream_lifecycle")) l ON l.stream_id = s.stream_id
                    WHERE s.stream_id = stream;
                IF is_tombstoned AND r_count[i] > 0 THEN
                    -- Every append of the group to this stream fails alike, so none of its keys
                    -- is taken (e_taken stays false along their chains).
                    first_event := last_event + 1;
                    outcome := 2; stream_version := current_version; appended := 0; RETURN NEXT; CONTINUE;
                END IF;
                IF r_plain[i] THEN
                    kept_count := r_count[i];
                ELSE
                    -- Keys again: drop an event whose key the stream holds or the group took before it.
                    kept_count := 0;
                    FOR idx IN first_event .. last_event LOOP
                        previous := e_previous[idx];
                        IF NOT e_stored[idx]
                            AND (previous = 0 OR NOT (e_taken[previous] OR r_whole[e_request[previous]])) THEN
                            e_kept[idx] := true;
                            e_taken[idx] := true;
                            kept_count := kept_count + 1;
                        ELSE
                            e_taken[idx] := previous > 0 AND (e_taken[previous] OR r_whole[e_request[previous]]);
                        END IF;
                    END LOOP;
                END IF;
                first_event := last_event + 1;
                IF kept_count = 0 THEN
                    outcome := 0; stream_version := current_version; appended := 0; RETURN NEXT; CONTINUE;
                END IF;
                IF (r_expected[i] = -2 AND current_version = 0)
                    OR (r_expected[i] >= 0 AND current_version <> r_expected[i]) THEN
                    -- Nothing of this append is stored: its keys are free again for later appends.
                    IF NOT r_plain[i] THEN
                        FOR idx IN last_event - r_count[i] + 1 .. last_event LOOP
                            previous := e_previous[idx];
                            e_kept[idx] := false;
                            e_taken[idx] := previous > 0 AND (e_taken[previous] OR r_whole[e_request[previous]]);
                        END LOOP;
                    END IF;
                    outcome := 1; stream_version := current_version; appended := 0; RETURN NEXT; CONTINUE;
                END IF;
                r_whole[i] := r_plain[i];
                r_base[i] := current_version;
                UPDATE \(table("streams")) SET version = current_version + kept_count,
                    last_recorded_at = CASE WHEN r_micros[i] < 0 THEN now()
                        ELSE timestamptz 'epoch' + r_micros[i] * interval '1 microsecond' END
                    WHERE stream_id = stream;
                total := total + kept_count;
                outcome := 0; stream_version := current_version + kept_count; appended := kept_count; RETURN NEXT;
            END LOOP;
            IF total > 0 THEN
                IF any_lifecycle THEN
                    -- A key stored in a hidden event is free: the new event takes it from the row.
                    UPDATE \(table("events")) e SET idempotency_key = NULL
                        FROM unnest(e_request, e_has_key, e_key) WITH ORDINALITY AS ev(request, has_key, key, idx)
                        JOIN unnest(r_stream) WITH ORDINALITY AS r(stream, request) ON r.request = ev.request
                        WHERE ev.has_key AND (e_kept[ev.idx] OR r_whole[ev.request])
                            AND e.stream_id = r.stream AND e.idempotency_key = ev.key;
                END IF;
                UPDATE \(table("head")) SET sequence_id = sequence_id + total RETURNING sequence_id - total INTO base;
                INSERT INTO \(table("events"))
                    (sequence_id, stream_id, version, idempotency_key, event_type, recorded_at, metadata, data)
                SELECT base + row_number() OVER (ORDER BY ev.idx), r.stream,
                    r_base[ev.request] + row_number() OVER (PARTITION BY ev.request ORDER BY ev.idx),
                    CASE WHEN ev.has_key THEN ev.key END, ev.type,
                    CASE WHEN r.micros < 0 THEN now()
                        ELSE timestamptz 'epoch' + r.micros * interval '1 microsecond' END,
                    CASE WHEN ev.metadata = '' THEN NULL ELSE ev.metadata::jsonb END, ev.data
                FROM unnest(e_request, e_type, e_has_key, e_key, e_metadata, e_data)
                    WITH ORDINALITY AS ev(request, type, has_key, key, metadata, data, idx)
                JOIN unnest(r_stream, r_micros) WITH ORDINALITY AS r(stream, micros, request)
                    ON r.request = ev.request
                WHERE e_kept[ev.idx] OR r_whole[ev.request]
                ORDER BY ev.idx;
                PERFORM pg_notify('\(channel)', (base + total)::text);
            END IF;
        END
        $body$
        """
    }

    /// `StreamLifecycle.hiddenThrough(streamVersion:)` in SQL, for the `stream_lifecycle` row
    /// `lifecycle` of a stream at `streamVersion` (`greatest` ignores a NULL `max_count`).
    func hiddenThrough(_ lifecycle: String, streamVersion: String) -> String {
        "greatest(\(lifecycle).hidden_through, \(streamVersion) - \(lifecycle).max_count)"
    }

    /// `StreamLifecycle.ageCutoff(nowMicros:)` in SQL for the `stream_lifecycle` row `lifecycle`:
    /// exact microseconds since 1970 as `numeric` (so it cannot overflow), NULL for no age bound.
    /// "Now" is the transaction's `now()`.
    func ageCutoff(_ lifecycle: String) -> String {
        "(extract(epoch FROM now()) * 1000000 - \(lifecycle).max_age_micros)"
    }

    /// A `timestamptz` as exact microseconds since 1970 (`numeric`).
    func microseconds(_ timestamp: String) -> String { "(extract(epoch FROM \(timestamp)) * 1000000)" }

    /// `StreamLifecycle.hides` in SQL: true when the event row `event` is hidden by the
    /// `stream_lifecycle` row `lifecycle` of its stream, at `streamVersion`; never NULL.
    func hides(event: String, lifecycle: String, streamVersion: String) -> String {
        "(\(event).version <= \(hiddenThrough(lifecycle, streamVersion: streamVersion)) OR "
            + "coalesce(\(microseconds("\(event).recorded_at")) < \(ageCutoff(lifecycle)), false))"
    }

    /// The negation of `hides`, written so that the index on `(stream_id, version)` serves it
    /// (a lower bound on the version).
    func isVisible(event: String, lifecycle: String, streamVersion: String) -> String {
        "\(event).version > \(hiddenThrough(lifecycle, streamVersion: streamVersion)) AND "
            + "NOT coalesce(\(microseconds("\(event).recorded_at")) < \(ageCutoff(lifecycle)), false)"
    }

    /// True when the event row `event` is hidden by its stream's lifecycle (a lookup by key in
    /// `stream_lifecycle`, then `streams`).
    func isHidden(_ event: String) -> String {
        "EXISTS (SELECT 1 FROM \(table("stream_lifecycle")) hl JOIN \(table("streams")) hs "
            + "ON hs.stream_id = hl.stream_id WHERE hl.stream_id = \(event).stream_id AND "
            + "\(hides(event: event, lifecycle: "hl", streamVersion: "hs.version")))"
    }

    /// The columns every event query selects, in `PostgresStorage.event(from:)`'s order.
    var eventColumns: String {
        "e.sequence_id, e.stream_id, e.version, e.idempotency_key, e.event_type, "
            + "e.recorded_at, e.metadata::text, e.data"
    }
}
