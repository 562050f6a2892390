import EventSourcingTestSupport
import Testing

@testable import LogStore

/// How a compaction journal's changes are made (`CompactionJournal.changes()`): few system calls,
/// the same bytes.
@Suite("Compaction journal") struct CompactionJournalTests {
    /// The bytes `size` bytes of `fill` become with `changes` made in order (a hole: zeros).
    static func applied(_ changes: [(offset: Int, count: Int, bytes: [UInt8]?)], size: Int, fill: UInt8) -> [UInt8] {
        var file = [UInt8](repeating: fill, count: size)
        for change in changes {
            let bytes = change.bytes ?? [UInt8](repeating: 0, count: change.count)
            #expect(bytes.count == change.count)
            file.replaceSubrange(change.offset..<(change.offset + change.count), with: bytes)
        }
        return file
    }

    @Test func changesLeaveTheSameBytesAsTheJournalListsThem() {
        var random = SeededRandom(seed: 20_261_207)
        for _ in 0..<200 {
            // Frames one after another, some compacted: a head, a payload hole, a trailer.
            var writes: [(offset: Int, bytes: [UInt8])] = [(0, random.bytes(64))]
            var holes: [(offset: Int, count: Int)] = []
            var offset = 64
            for _ in 0..<random.int(1...40) {
                let head = random.int(53...90)
                let payload = random.weighted([(random.int(1...3_000), 3), (random.int(3_000...70_000), 1)])
                if random.chance(0.6) {
                    writes.append((offset, random.bytes(head)))
                    holes.append((offset + head, payload))
                    writes.append((offset + head + payload, random.bytes(8)))
                }
                offset += head + payload + 8
            }
            let journal = CompactionJournal(ordinal: 1, writes: writes, holes: holes)
            let listed =
                writes.map { (offset: $0.offset, count: $0.bytes.count, bytes: Optional($0.bytes)) }
                + holes.map { (offset: $0.offset, count: $0.count, bytes: [UInt8]?.none) }
            let changes = journal.changes()
            #expect(Self.applied(changes, size: offset, fill: 0xA5) == Self.applied(listed, size: offset, fill: 0xA5))
            // Every whole block of a hole is punched, and nothing else is.
            let punched = changes.filter { $0.bytes == nil }
            #expect(punched.allSatisfy { $0.offset % 4096 == 0 && $0.count % 4096 == 0 && $0.count > 0 })
            let wholeBlocks = holes.reduce(0) { sum, hole in
                sum + max(0, (hole.offset + hole.count) / 4096 - (hole.offset + 4095) / 4096)
            }
            #expect(punched.reduce(0) { $0 + $1.count } == wholeBlocks * 4096)
            // Changes that touch are one write: no two writes of the result touch.
            let written = changes.filter { $0.bytes != nil }
            #expect(zip(written, written.dropFirst()).allSatisfy { $0.offset + $0.count < $1.offset || $0.count + $1.count > 1 << 20 })
        }
    }
}
