import Benchmark
import EventSourcingCore
import Foundation

@testable import LogStore

/// The inputs of the benchmarks, built once, before a benchmark's measured iterations, and the
/// read-path step that more than one benchmark measures.
///
/// Thread-safety: stateless; every member may be called from any thread.
enum BenchmarkInputs {
    /// The stream W1 writes to.
    static let streamID = "w1"

    /// The hash of `streamID`, the seed of its idempotency keys' hashes.
    static let streamHash = StableHash.stream(streamID)

    /// The timestamp every encoded frame carries (any fixed value: it is stored as is).
    static let timestampMicros: Int64 = 1_700_000_000_000_000

    /// Keys as the writer inserts them into the key table: (hash, sequence id of the event) each.
    typealias KeyBatch = [(hash: UInt64, sequenceID: Int64)]

    /// Bytes of JSON data in each event of `documentEvents`.
    static let documentDataBytes = 200

    /// W1's idempotency key of event `index`.
    static func key(_ index: Int) -> String { "event-\(index)" }

    /// W1's events (docs/BENCHMARKS.md): type `Increment`, idempotency key `event-N`, empty data.
    static func keyedEvents(count: Int) -> [CandidateEvent] {
        (0..<count).map { CandidateEvent(type: "Increment", idempotencyKey: key($0)) }
    }

    /// Events as an application recording orders writes them: a 200-byte JSON document each,
    /// three metadata members (one of them filterable by region) and an idempotency key.
    static func documentEvents(count: Int) -> [CandidateEvent] {
        (0..<count).map { index in
            CandidateEvent(
                type: "OrderPlaced", data: orderDocument(index),
                metadata: [
                    "correlationID": .string("c0ffee-\(index)"),
                    "region": .string(index % 3 == 0 ? "EMEA" : "APAC"),
                    "schemaVersion": 2,
                ],
                idempotencyKey: "order-\(index)")
        }
    }

    /// A JSON object of exactly `documentDataBytes` bytes, varying with `index` as real orders do.
    static func orderDocument(_ index: Int) -> Data {
        let head =
            #"{"order":"order-\#(index)","customer":"customer-\#(index % 977)","lines":[{"sku":"SKU-\#(index % 31)","#
            + #""quantity":\#(index % 5 + 1),"priceCents":\#(1999 + index % 500)}],"currency":"EUR","note":""#
        let tail = #""}"#
        let noteBytes = documentDataBytes - head.utf8.count - tail.utf8.count
        precondition(noteBytes >= 0, "the fixed fields of an order fit \(documentDataBytes) bytes")
        let note = String(repeating: "Deliver between nine and five, ring twice. ", count: 4).prefix(noteBytes)
        return Data((head + String(note) + tail).utf8)
    }

    /// `events` framed as the writer frames one write, starting at sequence id and version 1.
    static func frame(of events: [CandidateEvent]) -> [UInt8] {
        BatchFrame.encode(
            streamID: streamID, firstSequenceID: 1, firstVersion: 1, timestampMicros: timestampMicros, events: events)
    }

    /// `count` bytes that change every byte and repeat nowhere nearby, for the checksums.
    static func checksumInput(count: Int) -> [UInt8] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            // xorshift64: cheap, deterministic, and not constant.
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    /// Reads `frame` as the read path does: checks it (bounds, magic, both lengths, CRC-32C),
    /// decompresses its payload when it is LZ4, and decodes every event into a `StoredEvent`.
    /// - Returns: The number of events decoded.
    /// - Throws: `EventStoreError.corruption` when a record does not decode.
    static func decodeFrame(_ frame: [UInt8]) throws -> Int {
        try frame.withUnsafeBytes { bytes in
            guard case .frame(let header) = BatchFrame.probe(bytes, at: 0) else {
                preconditionFailure("a frame this benchmark encoded probes as a frame")
            }
            let streamID = BatchFrame.streamID(bytes, header)
            var decoded = 0
            try EventRecord.decode(frame: bytes, header: header, streamID: streamID, context: "benchmark") { event in
                blackHole(event)
                decoded += 1
                return true
            }
            return decoded
        }
    }

    /// W1's keys `range` as the key table stores them: their hash and the sequence id of their
    /// event (key N belongs to event N + 1), in batches of `batchSize` as the writer inserts them.
    static func keyEntries(_ range: Range<Int>, batchSize: Int) -> [KeyBatch] {
        stride(from: range.lowerBound, to: range.upperBound, by: batchSize).map { start in
            (start..<min(start + batchSize, range.upperBound)).map { index in
                (hash: StableHash.key(key(index), streamHash: streamHash), sequenceID: Int64(index) + 1)
            }
        }
    }
}
