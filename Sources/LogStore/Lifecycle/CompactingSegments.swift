import Foundation

/// What the writer thread and the compactions running beside it share: which segment's bytes
/// are changing now (the writer's key checks wait before reading a frame of it), and where the
/// segments the store's retention dropped go to be compacted.
///
/// Thread-safety: `@unchecked Sendable` because every property is only touched under `condition`.
final class CompactingSegments: @unchecked Sendable {
    private let condition = NSCondition()
    private var ordinals: Set<Int> = []
    private var droppedHandler: (@Sendable (Int64, [Int]) -> Void)?

    /// The segment's bytes start changing (the writer thread, once the journal is durable).
    func begin(_ ordinal: Int) {
        condition.lock()
        ordinals.insert(ordinal)
        condition.unlock()
    }

    /// The segment's changes are made, or failed (then the next compaction or open redoes them).
    func end(_ ordinal: Int) {
        condition.lock()
        ordinals.remove(ordinal)
        condition.broadcast()
        condition.unlock()
    }

    /// Waits while the segment's bytes are changing: a frame read meanwhile could be half changed.
    func waitWhileChanging(_ ordinal: Int) {
        condition.lock()
        while ordinals.contains(ordinal) { condition.wait() }
        condition.unlock()
    }

    /// Sets what raises the floor and compacts the segments the store's retention drops
    /// (`SegmentCompactor`).
    func onDropped(_ handler: @escaping @Sendable (_ floor: Int64, _ ordinals: [Int]) -> Void) {
        condition.lock()
        droppedHandler = handler
        condition.unlock()
    }

    /// Hands segments the store's retention dropped, to hide below `floor` and compact (the
    /// handler is set when the store opens, before any write).
    func dropped(floor: Int64, ordinals: [Int]) {
        condition.lock()
        let handler = droppedHandler
        condition.unlock()
        handler?(floor, ordinals)
    }
}
