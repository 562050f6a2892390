import EventSourcingCore
import Foundation

/// A 64-bit digest (FNV-1a, then the splitmix64 finalizer) of bytes and of stored events, the
/// same in every process: a snapshot state carries the digest of the events it reflects, and a
/// checker compares it with the digest of the events the recovered log holds.
package enum EventDigest {
    private static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    private static let prime: UInt64 = 0x0000_0100_0000_01B3

    /// The digest of `bytes`.
    package static func of<Bytes: Sequence>(_ bytes: Bytes, continuing start: UInt64 = offsetBasis) -> UInt64
    where Bytes.Element == UInt8 {
        var hash = start
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* prime }
        return SeededRandom.mix(hash)
    }

    /// The digest of events in order: version, id, type, data and metadata (compact JSON) of each.
    /// Timestamps are left out: a snapshot's writer and a checker read the same events at
    /// different times, and the timestamp is the store's, not the writer's.
    package static func of(events: [StoredEvent]) -> UInt64 {
        var hash = offsetBasis
        var metadata: [UInt8] = []
        for event in events {
            withUnsafeBytes(of: event.version.littleEndian) { hash = of($0, continuing: hash) }
            hash = of(event.id.utf8 + [0], continuing: hash)
            hash = of(event.type.utf8 + [0], continuing: hash)
            hash = of(event.data, continuing: hash)
            metadata.removeAll(keepingCapacity: true)
            if let object = event.metadata { JSONValue.writeObject(object, to: &metadata) } else { metadata = [0xFF] }
            hash = of(metadata, continuing: hash)
        }
        return hash
    }
}
