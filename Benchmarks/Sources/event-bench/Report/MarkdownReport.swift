/// `--markdown`: docs/BENCHMARKS.md, the machine, the run, every figure with the ratios to SQLite
/// (log and, when measured, PostgreSQL), the chart, each target of the specs with the figure
/// reached, and the PostgreSQL store against its peer.
enum MarkdownReport {
    static func text(_ run: BenchmarkRun, chartLink: String?) -> String {
        var lines: [String] = []
        func add(_ line: String = "") { lines.append(line) }
        let machine = run.machine
        let hasPostgres = run.hasPostgres
        add("# Benchmarks: the log engine against SQLite, and the PostgreSQL store")
        add()
        add("<!-- Written by `make bench` (Benchmarks/, the event-bench runner). Do not edit by hand: rerun it. -->")
        add()
        add("`LogEventStore` (the log engine) against `SQLiteEventStore` in **one process run**, on the same machine,")
        add("through the same public API, at matching durability (\(run.durabilityText)).")
        add("The workloads and targets are those of the benchmark spec (`shared/spec/BENCHMARKS.md`). Absolute")
        add("numbers drift on shared machines; the ratios, taken in one run, are what to compare.")
        add()
        add("The machine's own limit is the reference now (issue 17): in the same run, a plain C loop writes and")
        add("scans a minimal checksummed log of W1's events, and a bare `fdatasync` of one small append is timed;")
        add("the log engine's W1 write and replay and its W3 single-writer latency are reported as ratios to them")
        add("(\"The log engine against the machine\" below). SQLite remains the comparison of every figure.")
        if run.durability != .fsync {
            add("The reference syncs every write, so it is measured under `--durability fsync` only, not in this run.")
        }
        add()
        switch run.postgres {
        case .measured:
            add("`PostgresEventStore` is the third column (`shared/spec/POSTGRES.md`, \"Measured\"), in the same run,")
            add("against a private PostgreSQL server on 127.0.0.1 of the same machine (commits durable: `fsync=on`,")
            add("`synchronous_commit=on`, matching `.fsync` and SQLite `FULL`), each workload in a fresh schema.")
            let excluded = run.results.filter { $0.store == .postgres && $0.exclusion != nil }
            if !excluded.isEmpty {
                add("\(excludedText(run)) \(excluded.count == 1 ? "does" : "do") not apply to it (see the notes).")
            }
        case .skipped(let reason):
            add("**The PostgreSQL column was skipped in this run**: \(escape(reason)).")
        case .notSelected:
            add("The PostgreSQL column was not selected in this run (`--stores`).")
        }
        if run.isQuick {
            add()
            add("**This is a quick run** (scaled-down sizes, see the parameters below): the targets are stated for the")
            add("full sizes, so their verdicts here are indicative only. `make bench` runs the full sizes.")
        }
        add()
        add("## Run")
        add()
        add("| | |")
        add("|---|---|")
        add("| date | \(run.dateText) |")
        add("| command | `\(run.command)` |")
        add("| code measured | \(escape(machine.sourceRevision)) |")
        add("| sizes | \(run.sizesText) |")
        add("| durability | \(escape(run.durabilityText)) |")
        let server = run.postgres.summary.replacingOccurrences(of: "PostgreSQL column: ", with: "")
        add("| PostgreSQL | \(escape(server)) |")
        add("| run time | \(Format.fixed(run.totalSeconds / 60, 1)) min |")
        add()
        add("## Machine")
        add()
        add("| | |")
        add("|---|---|")
        add("| CPU | \(escape(machine.cpuModel)) |")
        add("| cores (`nproc`) | \(machine.cores) |")
        add("| memory (`/proc/meminfo`) | \(machine.memory) |")
        add("| disk (`df`) | \(escape(machine.disk)) |")
        add("| OS | \(escape(machine.operatingSystem)), Linux \(escape(machine.kernel)) |")
        add("| Swift | \(escape(machine.swiftVersion)) |")
        add()
        if let chartLink {
            add("## At a glance")
            add()
            add("How many times better the log engine is than SQLite on each figure (log scale; green: the log")
            add("engine is better, red: SQLite is). Throughput is log ÷ SQLite; latency, time, bytes and memory")
            add("are SQLite ÷ log, so that longer bars to the right are always better for the log engine.")
            if hasPostgres {
                add(
                    "The thin blue bar under each is the PostgreSQL store against SQLite, read the same way "
                        + "(dark blue:")
                add("PostgreSQL better, light blue: SQLite better).")
            }
            add()
            let stores = hasPostgres ? "LogEventStore and PostgresEventStore" : "LogEventStore"
            add("![\(stores) vs SQLiteEventStore, ratio per figure](\(chartLink))")
            add()
        }
        add("## Every figure")
        add()
        add("`log/SQLite` is the plain ratio of the two values; `log is` reads it in the figure's direction.")
        if hasPostgres {
            add("`PG/SQLite` and `PostgreSQL is` do the same for the PostgreSQL store; a dash marks a workload that")
            add("does not apply to it (\(excludedText(run))), `n/a` a figure it does not have.")
            add()
            add(
                "| | figure | unit | LogEventStore | SQLiteEventStore | PostgresEventStore | log/SQLite | log is "
                    + "| PG/SQLite | PostgreSQL is |")
            add("|---|---|---|---:|---:|---:|---:|---|---:|---|")
        } else {
            add()
            add("| | figure | unit | LogEventStore | SQLiteEventStore | log/SQLite | log is |")
            add("|---|---|---|---:|---:|---:|---|")
        }
        var previous: Workload?
        for row in run.comparisons {
            let unit = row.figure.unit
            let workload = row.workload == previous ? "" : "**\(row.workload.rawValue)**"
            previous = row.workload
            var line =
                "| \(workload) | \(escape(row.figure.label)) | \(unit) | \(Format.value(row.log, unit: unit)) | "
                + "\(Format.value(row.sqlite, unit: unit)) | "
            if hasPostgres { line += "\(row.postgresCell()) | " }
            line += "\(Format.ratio(row.ratio)) | \(row.verdict) |"
            if hasPostgres {
                let excluded = row.isPostgresExcluded
                let ratio = excluded ? "—" : Format.ratio(row.postgresRatio)
                line += " \(ratio) | \(excluded ? "—" : row.postgresVerdict) |"
            }
            add(line)
        }
        add()
        addMachineReference(run, add)
        add("## Targets")
        add()
        add("The targets of the spec for the log engine, with the figure this run reached.")
        add()
        addTargets(TargetCheck.shown(run, store: .log), add)
        if hasPostgres {
            add("The targets of `shared/spec/POSTGRES.md` for the PostgreSQL store, and its aims against the peer")
            add("below, with the figure this run reached.")
            add()
            addTargets(TargetCheck.shown(run, store: .postgres), add)
            add("## The PostgreSQL store against its peer")
            add()
            add("The reference: \(PostgresPeer.name), as POSTGRES.md quotes it (measured on a machine like this")
            add("one against the same PostgreSQL 15, not in this run), beside this run's figures for the same work.")
            add(
                "The aims: at least \(Format.ratio(PostgresPeer.writeAim)) its W1 write and "
                    + "\(Format.ratio(PostgresPeer.eightWritersAim)) its 8-writer rate (checked above).")
            add()
            add("| work | peer (events/s) | figure of this run | PostgresEventStore (events/s) | ÷ peer |")
            add("|---|---:|---|---:|---:|")
            for peer in PostgresPeer.references {
                let ours = run.comparisons.first { $0.workload == peer.workload && $0.figure.key == peer.key }?.postgres
                add(
                    "| \(peer.label) | \(Format.grouped(peer.eventsPerSecond)) | \(peer.ours) | "
                        + "\(Format.value(ours, unit: "events/s")) | "
                        + "\(Format.ratio(ours.map { $0 / peer.eventsPerSecond })) |")
            }
            add()
        }
        add("## Parameters and notes of this run")
        add()
        for workload in run.workloads {
            add("- **\(workload.rawValue)**, \(workload.title).")
            for kind in StoreKind.allCases {
                guard let result = run.result(workload, kind) else { continue }
                if let exclusion = result.exclusion {
                    add("  - \(kind.displayName): \(escape(exclusion)).")
                    continue
                }
                let parameters = result.parameters.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
                var line = "  - \(kind.displayName) (\(Format.fixed(result.elapsedSeconds, 1)) s)"
                if !parameters.isEmpty { line += ": \(parameters)" }
                add(line + ".")
                for note in result.notes { add("    - \(note)") }
            }
        }
        add()
        add("## How the figures are measured")
        add()
        for workload in run.workloads { add("- **\(workload.rawValue)**: \(method(workload))") }
        add()
        add("General: each workload runs on a fresh temporary directory, removed afterwards, first on the log")
        add("store, then on SQLite, in the same process. Durations come from `ContinuousClock`; rates are events")
        add("divided by the measured time. Percentiles are nearest-rank over every sample.")
        if hasPostgres {
            add()
            add("PostgreSQL: each workload then runs on `PostgresEventStore` (default options: 8 connections, group")
            add("commit up to 20,000 events) in a fresh schema of the server (`?schema=bench_<workload>_<random>`,")
            add("created on open, never dropped: the server is throwaway), through the same public API. The server")
            add("runs on the same machine and shares its cores with the runner; it is reached over TCP on 127.0.0.1.")
            add("W4's cross-process watcher opens the same schema read-only and learns of appends through")
            add("`LISTEN`/`NOTIFY`. W3 adds the scale-out figure: writer processes (`event-bench write-child`), each")
            add("a store of its own on the same schema writing single events from its tasks to streams of its own,")
            add("4 together against 1, all measuring the same period of `CLOCK_MONOTONIC` after a warm-up.")
        }
        add()
        add("## Reproduce")
        add()
        add("```sh")
        add("make bench            # full sizes: writes docs/BENCHMARKS.md and docs/benchmarks.svg")
        add("make bench QUICK=1    # scaled-down sizes, a few minutes")
        add("# both start a private PostgreSQL server for the third column (scripts/postgres-test-server.sh),")
        add("# or use the one EVENTSOURCING_POSTGRES_URL names; without it event-bench skips the column")
        add("swift build -c release --package-path Benchmarks")
        add("Benchmarks/.build/release/event-bench --help   # --only W1,W3, --json PATH, --durability buffered, ...")
        add("```")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The log engine's figures beside the machine's reference of the same run (issue 17).
    private static func addMachineReference(_ run: BenchmarkRun, _ add: (String) -> Void) {
        let w1 = run.result(.w1, .log)
        let w3 = run.result(.w3, .log)
        let rows: [(String, Figure?, Figure?, Figure?, String)] = [
            (
                "W1 write", w1?.figure("write_events_per_s"), w1?.figure("c_loop_write_events_per_s"),
                w1?.figure("write_over_c_loop"), "≥ 0.8×"
            ),
            (
                "W1 replay (`for try await`)", w1?.figure("replay_events_per_s"),
                w1?.figure("c_loop_scan_events_per_s"), w1?.figure("replay_over_c_loop"), "≥ 0.8× (≥ 0.5×)"
            ),
            (
                "W3 1 writer p50 latency", w3?.figure("writers_1_p50_us"), w3?.figure("fdatasync_p50_us"),
                w3?.figure("writers_1_p50_over_fdatasync"), "≤ 1.3×"
            ),
            ("W3 1 writer p99 latency", w3?.figure("writers_1_p99_us"), w3?.figure("fdatasync_p99_us"), nil, ""),
        ]
        let measured = rows.filter { $0.2 != nil }
        guard !measured.isEmpty else { return }
        add("## The log engine against the machine")
        add("")
        add("The machine's reference, measured in this run right next to the log store on the same filesystem")
        add("(`Benchmarks/Sources/CLogLoop/clogloop.c`, called in-process):")
        add("")
        add("- **C loop write** (W1): W1's events as minimal records, back to back in one file: length (4 bytes),")
        add("  sequence number (8), field lengths (8), then the stream id, type and key bytes (`w1`, `Increment`,")
        add("  `event-N`; data empty), and a CRC-32C of the record (4; SSE4.2 where the CPU has it): about 47")
        add("  bytes (W1's parameters below give the average). A batch of 10,000 is encoded into one buffer,")
        add("  written with one `write(2)` and made durable with one `fdatasync(2)`, as W1 writes 10,000 events")
        add("  per durable write. The time runs from creating the file to the last `fdatasync` returning.")
        add("- **C loop scan** (W1): the file read back from the start in 1 MiB `read(2)` calls; every record's")
        add("  length, field lengths, sequence number and CRC-32C checked and its fields read before it is")
        add("  counted (the median of three scans; the page cache is warm, as for the log's replay).")
        add("- **bare fdatasync** (W3): one `write(2)` of a 100-byte record to the end of a file and one")
        add("  `fdatasync(2)`, repeated after a warm-up (the counts are in W3's parameters below), each timed:")
        add("  the floor of a durable single-event write on this disk.")
        add("")
        add("| figure | LogEventStore | machine | unit | log ÷ machine | target |")
        add("|---|---:|---:|---|---:|---|")
        for (label, log, machine, ratio, target) in measured {
            let unit = machine?.unit ?? log?.unit ?? ""
            // The p99 row has no figure of its own for the ratio: it is computed here.
            let computed = log?.value.flatMap { value in machine?.value.map { value / $0 } }
            let ratioText = Format.ratio(ratio?.value ?? computed)
            add(
                "| \(label) | \(Format.value(log?.value, unit: unit)) | \(Format.value(machine?.value, unit: unit)) | "
                    + "\(unit) | \(ratioText) | \(target) |")
        }
        add("")
    }

    private static func addTargets(_ checks: [TargetCheck], _ add: (String) -> Void) {
        guard !checks.isEmpty else {
            add("None of them was measured in this run.")
            add("")
            return
        }
        add("| target | reached | |")
        add("|---|---|---|")
        for check in checks {
            let status = check.isMet == true ? "**met**" : check.isMet == false ? "**missed**" : "not measured"
            add("| \(escape(check.text)) | \(escape(check.reached)) | \(status) |")
        }
        add("")
    }

    /// The workloads of the run that do not apply to PostgreSQL: `W5 and W8`.
    private static func excludedText(_ run: BenchmarkRun) -> String {
        let names = run.results.filter { $0.store == .postgres && $0.exclusion != nil }.map(\.workload.rawValue)
        guard let last = names.last else { return "no workload" }
        return names.count == 1 ? last : names.dropLast().joined(separator: ", ") + " and " + last
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|")
    }

    /// How each workload measures its figures.
    static func method(_ workload: Workload) -> String {
        switch workload {
        case .w1:
            return "one stream, writes of 10,000 events with idempotency keys `event-N` and empty data. "
                + "*write* counts only the time inside `write` calls (building the `CandidateEvent` values is the "
                + "caller's work; the figure including it is listed too). *replay* is `for try await` over "
                + "`read()` into a counter (the median of three replays). Then a snapshot of the count, 100 more events, and *restore*: a new "
                + "handle, `loadSnapshot`, and a read of the events after the snapshot. *bytes on disk per event* "
                + "is the space allocated to the store's files (as `du` counts, after close) over the events stored; "
                + "the files' apparent size is listed too. On the log store, the C loop over the same events follows "
                + "(\"The log engine against the machine\"): its write and scan rates, and the log's as ratios to "
                + "them."
        case .w2:
            return "64 tasks write concurrently, each to its own share of the streams, each stream's 10 events in "
                + "writes of 1–10 events (seeded random sizes); the rate is all events over the wall time. "
                + "A read sample is `store.stream(id)` plus reading its 10 events, for a seeded random stream, one "
                + "at a time after 100 warm-up reads. Then one `@all` replay of everything."
        case .w3:
            return "1, 8 and 64 tasks each write single events to their own stream in a loop, at full "
                + "durability, for a fixed time after a warm-up; the rate counts the writes that started and ended "
                + "in the measured period, and latency is each `write` call's duration. The 64/1 ratio shows how "
                + "well concurrent writers share a sync (group commit). On the log store, a bare `fdatasync` of one "
                + "100-byte append is timed first, in the same directory (\"The log engine against the machine\"): "
                + "the floor of a durable write, to which the single writer's p50 is compared."
        case .w4:
            return "a writer writes single events one at a time, waiting for each to be delivered before the next; "
                + "latency runs from just before the `write` call to the watcher receiving the event, so it includes "
                + "the durable write itself (its duration alone is listed for the in-process case). In-process: a "
                + "watcher task on the same store. Cross-process: the runner re-executes itself as `event-bench "
                + "watch-child`, which opens the store read-only, watches, and prints receive times on "
                + "`CLOCK_MONOTONIC` (one clock for every process on the machine). Every wait is bounded (5 s per "
                + "event); a read-only watcher that sees no new event is reported as not supported yet."
        case .w5:
            return "the time to `open` a store and answer a first query (the `@all` head), so that a store that "
                + "defers recovery to first use pays for it. Clean: the store was written and closed in this process; "
                + "the median of three opens. After SIGKILL: a child process (`event-bench kill-writer`) writes the "
                + "events at full durability, reports it is done, and is killed with SIGKILL while holding the "
                + "store open; the first open afterwards is timed. The page cache is warm in both cases."
        case .w6:
            return "the W1 events are written, then all of their keys are written again in writes of 10,000; every "
                + "event is dropped as a duplicate (the stream's version does not move, checked). The rate counts "
                + "the time inside `write` calls."
        case .w7:
            return "events in writes of 10,000 spread over 100 streams, with metadata `{\"region\": \"EMEA\"}` on "
                + "every 100th event and `\"APAC\"` on the rest; then one `@all` read with the filter "
                + "`.equals(\"metadata.region\", \"EMEA\")` (its 1% of matches checked). The rate is events scanned "
                + "(all of them) per second."
        case .w9:
            return "events in writes of 10,000 spread over 100 streams; then rounds that alternate a plain "
                + "`stream(\"@all\").watch(from: 0)` reading all of them and a new subscription of `@all` from the "
                + "beginning (`store.subscribe`) reading all of them and calling `acknowledge(event)` on every "
                + "1,000th (durable when it returns: an fsync of the subscription's record for the log store under "
                + "`.fsync`, a committed row for SQLite). A subscription's time runs from `subscribe` to the return "
                + "of its last acknowledgement. Each rate is the median of 3 rounds; the ratio is subscription ÷ "
                + "watch, and the acknowledgements' latency and share of the time are listed."
        case .w11:
            return "a store of W1's size (W1's events, keys per stream) spread over the streams, built in writes "
                + "of 10 streams × 1,000 events, then every other stream deleted (`delete()`, from 8 tasks) and the "
                + "events left counted through `@all`. A writer then writes batches of 10,000 keyed events to a "
                + "stream of its own, 20 writes alone, then again while `compact()` runs, stopping after the write in "
                + "flight when it returns; each rate is events over the time inside `write` calls, and the ratio "
                + "is during ÷ alone. *compact()* is its wall time; events removed and bytes reclaimed are its "
                + "report. Bytes on disk are allocated bytes (as `du` counts; compaction punches holes) of the "
                + "log's segment files (the indexes keep their size) or of the store's files, with the store open; "
                + "*reclaimed* adds back the writer's events during compaction at the writer's bytes per event "
                + "measured alone. Afterwards every visible event is counted through `@all` and a deleted stream "
                + "reads empty. Then, on the log store only, *W1 with store retention*: W1's write phase on stores "
                + "with `segmentBytesMax` of half a byte per W1 event (W1's log takes about 5 bytes per event, so "
                + "about 10 segments), alternately without retention "
                + "and with `Options.retention = StoreRetention(maxBytes: 2 segments)`, which drops the oldest "
                + "segments as the writer rolls (at least 3 dropped, checked by their punched files); the median "
                + "of 3 rounds of each, and the ratio with ÷ without."
        case .w12:
            return "W1's shape twice on fresh stores: writes of 10,000 keyed events of a `Codable` payload "
                + "(`CandidateEvent(payload)`, a 36-byte JSON object) then a replay that calls `decode` on each; and "
                + "the same with raw events carrying the very same JSON bytes, prebuilt, and a replay that does not "
                + "decode. Both write rates include building the events, where encoding happens. Encoding alone and "
                + "decoding alone are timed outside the store over 100,000 events, to show where the time goes."
        case .w10:
            return "8 tasks make the writes, each `store.write([StreamWrite])` of one event to each of two distinct "
                + "streams drawn (seeded) from 10,000, at full durability, expected version `.any`; every event is "
                + "counted back through `@all`. Then, on a fresh store, the same events as single-stream writes of "
                + "one event each by 8 tasks. The ratio compares the two event rates: what storing two streams as "
                + "one unit costs against storing them apart."
        case .w8:
            return "W1's write and replay at each size on a fresh store; the ratio is the larger size's rate over "
                + "the 1M rate. The replay runs on a reopened store after `malloc_trim`; that open (with a first "
                + "query, as in W5) is timed too, to show whether open time grows with the store. Peak resident memory is "
                + "the kernel's `VmHWM` for the process, reset through /proc/self/clear_refs just before the "
                + "replay; it counts pages of memory-mapped files too (page cache the kernel may drop). A thread "
                + "sampling `/proc/self/status` every 5 ms gives the peak of anonymous memory (`RssAnon`: heap and "
                + "stacks), what the replay itself allocates."
        }
    }
}
