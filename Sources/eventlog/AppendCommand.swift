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
              {"type": "Placed", "data": "text", "data_base64": "...", "metadata": {...}, "key": "..."}
            and makes every --batch lines one write; after each write returns it prints
            {"version":V,"count":C} on its own line and flushes standard output.

            Examples:
              eventlog append ./orders order-1 --type Placed --data '{"total":30}' --metadata '{"region":"EMEA"}'
              printf '{"type":"A"}\\n{"type":"B","key":"b-1"}\\n' | eventlog append ./orders order-1 --stdin --batch 2
            """
    )

    @Argument(help: "The store: a directory (log store), *.db / *.sqlite or sqlite:PATH (SQLite).")
    var store: StoreLocation
    @Argument(help: "The stream to append to.")
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
        } else {
            guard type != nil else { throw ValidationError("give --type for one event, or --stdin for JSON lines") }
            guard data == nil || dataFile == nil else { throw ValidationError("give --data or --data-file, not both") }
        }
    }

    func run() async throws {
        try await withStore(store, forWriting: true, options: options) { store in
            let handle = try await store.stream(stream)
            if stdin {
                try await appendLines(to: handle)
            } else {
                let event = CandidateEvent(
                    type: type!, data: try payload(), metadata: try metadata.map(Self.parseMetadata),
                    idempotencyKey: key)
                let version = try await handle.write([event], expectedVersion: expectedVersion?.value ?? .any)
                EventOutput.emit(#"{"version":\#(version),"count":1}"#)
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

    /// Reads JSON lines and writes every `batch` of them, acknowledging each write.
    private func appendLines(to handle: EventStream) async throws {
        var pending: [CandidateEvent] = []
        var lineNumber = 0
        var expected = expectedVersion?.value ?? .any
        func flush() async throws {
            guard !pending.isEmpty else { return }
            let version = try await handle.write(pending, expectedVersion: expected)
            EventOutput.emit(#"{"version":\#(version),"count":\#(pending.count)}"#)
            pending.removeAll(keepingCapacity: true)
            expected = .any
        }
        while let line = readLine(strippingNewline: true) {
            lineNumber += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            pending.append(try Self.event(fromLine: line, number: lineNumber))
            if pending.count == batch { try await flush() }
        }
        try await flush()
    }

    /// One event from a JSON line.
    static func event(fromLine line: String, number: Int) throws -> CandidateEvent {
        guard case .object(let fields)? = try? JSONValue.parse(line) else {
            throw CommandError("line \(number) is not a JSON object")
        }
        let known: Set<String> = ["type", "data", "data_base64", "metadata", "key"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw CommandError(
                "line \(number) has an unknown field '\(unknown)' (known: type, data, data_base64, metadata, key)")
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
        return CandidateEvent(type: type, data: data, metadata: metadata, idempotencyKey: key)
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
