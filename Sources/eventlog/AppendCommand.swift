import ArgumentParser
import EventSourcing
import Foundation

/// `eventlog append`: one event from options, or JSON lines from standard input.
struct AppendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Append events to a stream.",
        discussion: """
            With --type, appends one event. With --stdin, reads JSON lines, one event each:
              {"type":"Placed", "data":"text" (or "data_base64":"..."), "metadata":{...},
               "key":"...", "stream":"..."}
            and makes every --batch lines one write; after each write returns it prints \
            {"version":V,"count":C} on its own line and flushes standard output.

            "stream", when a line gives it, sends that event to this stream instead of STREAM; the \
            lines of one write must all go to one stream.

            --concurrency N keeps up to N writes in flight at once, each taking the next --batch \
            lines. Writes in flight together may be stored in either order, and their \
            acknowledgements come in the order the writes return (each line whole). An \
            --expected-version applies to the first write, which returns before others start. On \
            bad input or a failed write, the writes in flight finish, and are acknowledged, before \
            the command fails.

            Examples:
              eventlog append ./orders order-1 --type Placed --data '{"total":30}' --metadata '{"region":"EMEA"}'
              printf '{"type":"A"}\\n{"type":"B","key":"b-1"}\\n' | eventlog append ./orders order-1 --stdin --batch 2
              printf '{"type":"A","stream":"order-2"}\\n{"type":"B"}\\n' | eventlog append ./orders order-1 --stdin
              eventlog append 'postgres://app@db/shop?schema=orders' order-1 --stdin --concurrency 8 < events.jsonl
            """
    )

    @Argument(
        help: ArgumentHelp(
            "The store: a directory (log store), *.db / *.sqlite or sqlite:PATH (SQLite), or "
                + "postgres://user@host:port/database[?schema=name] (PostgreSQL)."))
    var store: StoreLocation
    @Argument(help: "The stream to append to (with --stdin: for lines without a \"stream\").")
    var stream: String
    @Option(help: "The event's type.")
    var type: String?
    @Option(help: "The event's data, as UTF-8 text.")
    var data: String?
    @Option(help: "A file whose bytes are the event's data.")
    var dataFile: String?
    @Option(help: "The event's metadata: a JSON object.")
    var metadata: String?
    @Option(help: "An idempotency key: the event is dropped if the stream already holds it.")
    var key: String?
    @Option(help: "The version the stream must be at: a number, any, no-stream or exists.")
    var expectedVersion: ExpectedVersionArgument?
    @Flag(help: "Read events as JSON lines from standard input.")
    var stdin = false
    @Option(help: "With --stdin: how many lines make one write.")
    var batch = 1
    @Option(help: "With --stdin: how many writes may be in flight at once.")
    var concurrency = 1
    @OptionGroup var options: StoreOptions

    func validate() throws {
        if stdin {
            guard type == nil, data == nil, dataFile == nil, metadata == nil, key == nil else {
                throw ValidationError(
                    "--stdin takes events from standard input; drop --type, --data, --data-file, --metadata and --key")
            }
            guard batch >= 1, batch <= Limits.batchEventsMax else {
                throw ValidationError("--batch must be between 1 and \(Limits.batchEventsMax)")
            }
            guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        } else {
            guard type != nil else { throw ValidationError("give --type for one event, or --stdin for JSON lines") }
            guard data == nil || dataFile == nil else { throw ValidationError("give --data or --data-file, not both") }
            guard concurrency == 1 else { throw ValidationError("--concurrency applies to --stdin only") }
        }
    }

    func run() async throws {
        try await withStore(store, forWriting: true, options: options) { store in
            if stdin {
                try await appendLines(to: store)
            } else {
                let event = CandidateEvent(
                    type: type!, data: try payload(), metadata: try metadata.map(Self.parseMetadata),
                    idempotencyKey: key)
                let version = try await store.stream(stream).write(
                    [event], expectedVersion: expectedVersion?.value ?? .any)
                try Self.acknowledge(version: version, count: 1)
            }
        }
    }

    private func payload() throws -> Data {
        if let dataFile {
            guard let bytes = FileManager.default.contents(atPath: dataFile) else {
                throw CommandError("cannot read --data-file '\(dataFile)'")
            }
            return bytes
        }
        return Data((data ?? "").utf8)
    }

    static func parseMetadata(_ text: String) throws -> [String: JSONValue] {
        guard case .object(let members)? = try? JSONValue.parse(text) else {
            throw CommandError("--metadata must be a JSON object, like '{\"region\":\"EMEA\"}'")
        }
        return members
    }

    /// Reads JSON lines and writes every `batch` of them, with up to `concurrency` writes in
    /// flight, each acknowledged as it returns.
    private func appendLines(to store: any EventStore) async throws {
        var handles: [String: EventStream] = [:]
        var pending: [CandidateEvent] = []
        var pendingStream = stream
        var pendingFirstLine = 0
        var lineNumber = 0
        var expected = expectedVersion?.value
        try await withThrowingTaskGroup(of: Void.self) { writes in
            var inFlight = 0
            func writePending() async throws {
                if handles[pendingStream] == nil { handles[pendingStream] = try await store.stream(pendingStream) }
                try await startWrite(
                    pending, to: handles[pendingStream]!, expected: expected, in: &writes, inFlight: &inFlight)
                pending.removeAll(keepingCapacity: true)
                expected = nil
            }
            do {
                for await line in Self.standardInputLines(readAhead: batch) {
                    lineNumber += 1
                    if line.allSatisfy(\.isWhitespace) { continue }
                    let (lineStream, event) = try Self.event(fromLine: line, number: lineNumber)
                    if pending.isEmpty {
                        pendingStream = lineStream ?? stream
                        pendingFirstLine = lineNumber
                    } else if (lineStream ?? stream) != pendingStream {
                        throw CommandError(
                            "line \(lineNumber) goes to stream '\(lineStream ?? stream)', but line \(pendingFirstLine) "
                                + "of the same write goes to '\(pendingStream)': the \(batch) lines of one write "
                                + "(--batch) must go to one stream")
                    }
                    pending.append(event)
                    if pending.count == batch { try await writePending() }
                }
                if !pending.isEmpty { try await writePending() }
                try await writes.waitForAll()
            } catch {
                // The writes in flight finish, and are acknowledged, before the first failure is
                // reported, so what was printed is what was stored. A later failure among them
                // stays unreported (errors are one sentence): its write printed no acknowledgement.
                while await writes.nextResult() != nil {}
                throw error
            }
        }
    }

    /// Starts one write in `writes`, after waiting for one to return when `concurrency` are in
    /// flight. A write with an expected version returns before this does, so that later writes
    /// cannot overtake the one it checks.
    private func startWrite(
        _ events: [CandidateEvent], to handle: EventStream, expected: ExpectedVersion?,
        in writes: inout ThrowingTaskGroup<Void, any Error>, inFlight: inout Int
    ) async throws {
        if inFlight == concurrency {
            try await writes.next()
            inFlight -= 1
        }
        writes.addTask {
            let version = try await handle.write(events, expectedVersion: expected ?? .any)
            try Self.acknowledge(version: version, count: events.count)
        }
        inFlight += 1
        if expected != nil {
            try await writes.next()
            inFlight -= 1
        }
    }

    /// Prints `{"version":V,"count":C}` with one write of the whole line, so that the lines of
    /// writes returning at once never interleave, and nothing waits in a buffer.
    private static func acknowledge(version: Int64, count: Int) throws {
        try FileHandle.standardOutput.write(contentsOf: Data(#"{"version":\#(version),"count":\#(count)}"#.utf8 + [10]))
    }

    /// Standard input's lines, read on a thread of their own: a wait for input never holds one of
    /// the few threads of Swift's concurrency pool, which the writes in flight need to return and
    /// be acknowledged. At most `readAhead` lines are read before they are taken.
    private static func standardInputLines(readAhead: Int) -> AsyncMapSequence<AsyncStream<String>, String> {
        let (lines, continuation) = AsyncStream.makeStream(of: String.self)
        let room = DispatchSemaphore(value: readAhead)
        let reader = Thread {
            while let line = readLine(strippingNewline: true) {
                room.wait()
                continuation.yield(line)
            }
            continuation.finish()
        }
        reader.name = "eventlog stdin"
        reader.start()
        return lines.map { line in
            room.signal()
            return line
        }
    }

    /// One event from a JSON line, and the stream its `"stream"` field names, if any.
    static func event(fromLine line: String, number: Int) throws -> (stream: String?, event: CandidateEvent) {
        guard case .object(let fields)? = try? JSONValue.parse(line) else {
            throw CommandError("line \(number) is not a JSON object")
        }
        let known: Set<String> = ["type", "data", "data_base64", "metadata", "key", "stream"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw CommandError(
                "line \(number) has an unknown field '\(unknown)' "
                    + "(known: type, data, data_base64, metadata, key, stream)")
        }
        guard case .string(let type)? = fields["type"] else {
            throw CommandError("line \(number) needs a string \"type\"")
        }
        var data = Data()
        switch (fields["data"], fields["data_base64"]) {
        case (nil, nil): break
        case (.string(let text)?, nil): data = Data(text.utf8)
        case (nil, .string(let encoded)?):
            guard let decoded = Data(base64Encoded: encoded) else {
                throw CommandError("line \(number): \"data_base64\" is not base64")
            }
            data = decoded
        default: throw CommandError("line \(number): give \"data\" (a string) or \"data_base64\", not both")
        }
        var metadata: [String: JSONValue]?
        switch fields["metadata"] {
        case nil, .null?: break
        case .object(let members)?: metadata = members
        default: throw CommandError("line \(number): \"metadata\" must be a JSON object")
        }
        var key: String?
        switch fields["key"] {
        case nil, .null?: break
        case .string(let text)?: key = text
        default: throw CommandError("line \(number): \"key\" must be a string")
        }
        var stream: String?
        switch fields["stream"] {
        case nil, .null?: break
        case .string(let text)?: stream = text
        default: throw CommandError("line \(number): \"stream\" must be a string")
        }
        return (stream, CandidateEvent(type: type, data: data, metadata: metadata, idempotencyKey: key))
    }
}

/// `--expected-version N|any|no-stream|exists`.
struct ExpectedVersionArgument: ExpressibleByArgument {
    let value: ExpectedVersion

    init?(argument: String) {
        switch argument {
        case "any": value = .any
        case "no-stream": value = .noStream
        case "exists": value = .streamExists
        default:
            guard let number = Int64(argument), number >= 0 else { return nil }
            value = .exact(number)
        }
    }
}
