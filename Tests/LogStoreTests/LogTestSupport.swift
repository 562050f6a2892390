import EventSourcing
import Foundation
import Logging
import Testing

/// A temporary directory removed when the test ends.
final class TemporaryDirectory: Sendable {
    let path: String

    init(_ name: String = "log") throws {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("logstore-\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func sub(_ name: String) -> String { path + "/" + name }
}

/// Small segments and checkpoints so that rolls and checkpoints happen in small tests.
func smallOptions(durability: LogEventStore.Durability = .fsync, segmentBytes: Int = 8 * 1024) -> LogEventStore.Options
{
    LogEventStore.Options(durability: durability, segmentBytesMax: segmentBytes, checkpointBytesInterval: 1 << 30)
}

/// Copies a store's directory as a crashed process would leave it: whatever was written to the OS.
func crashImage(of directory: String, to target: String) throws {
    try FileManager.default.copyItem(atPath: directory, toPath: target)
}

/// Every event of the store, in sequence order.
func allEvents(_ store: any EventStore) async throws -> [StoredEvent] {
    var events: [StoredEvent] = []
    for try await event in try await store.stream("@all").read() { events.append(event) }
    return events
}

/// Opens `directory`, reads every event, closes.
func readAll(_ directory: String, options: LogEventStore.Options = smallOptions()) async throws -> [StoredEvent] {
    try await LogEventStore.withStore(directory: directory, options: options) { try await allEvents($0) }
}

/// The segment files of a store, oldest first.
func segmentFiles(_ directory: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("segment-") }.sorted()
        .map { directory + "/" + $0 }
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue
}

func truncateFile(_ path: String, to size: Int) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.truncate(atOffset: UInt64(size))
    try handle.close()
}

func appendBytes(_ path: String, _ bytes: [UInt8]) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.seekToEnd()
    try handle.write(contentsOf: Data(bytes))
    try handle.close()
}

func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
    try handle.close()
}

func readBytes(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
    let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    try handle.seek(toOffset: UInt64(offset))
    let data = try handle.read(upToCount: count) ?? Data()
    try handle.close()
    return Array(data)
}

/// Expects opening `directory` to fail with `corruption`.
func expectCorruption(_ directory: String, sourceLocation: SourceLocation = #_sourceLocation) async {
    do {
        let store = try await LogEventStore.open(directory: directory, options: smallOptions())
        try? await store.close()
        Issue.record("open succeeded on a damaged store", sourceLocation: sourceLocation)
    } catch EventStoreError.corruption(let message) {
        #expect(message.contains("'"), "the message names the file: \(message)", sourceLocation: sourceLocation)
        #expect(message.contains("offset"), "the message names the offset: \(message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected corruption, got \(error)", sourceLocation: sourceLocation)
    }
}

/// Keeps every message logged through `logger`, for tests that check what a store reported.
final class LogRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [String] = []

    var messages: [String] { lock.withLock { recorded } }

    var logger: Logger { Logger(label: "test") { _ in Handler(recorder: self) } }

    fileprivate func record(_ line: String) { lock.withLock { recorded.append(line) } }

    private struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(
                separator: " ")
            recorder.record("\(event.level) \(event.message) \(fields)")
        }
    }
}
