/// The kinds of file in a log store's directory (docs/FORMAT.md), named by their file names, for
/// choosing what to damage and for counting where faults landed.
package enum StoreFileKind: String, CaseIterable, Sendable, Comparable {
    case segment
    case checkpoint
    case head
    case lock
    case batchIndex = "batches.idx"
    case streamIndex = "streams.idx"
    case blockIndex = "blocks.idx"
    case keyIndex = "keys.idx"
    case snapshot
    /// What is hidden of each stream (`lifecycle`).
    case lifecycle
    /// The journal of a compaction in progress (`compaction`).
    case compactionJournal = "compaction journal"
    /// A subscription's record (`subscriptions/<name>.sub`).
    case subscription
    /// The `subscriptions` directory itself.
    case subscriptionDirectory = "subscriptions directory"
    case temporary
    case directory
    case other

    /// The kind of the file called `name` (a name inside the store's directory, not a path;
    /// `subscriptions/<file>` for a file of that subdirectory).
    package init(fileName name: String) {
        switch name {
        case "subscriptions": self = .subscriptionDirectory
        case "checkpoint": self = .checkpoint
        case "head": self = .head
        case "lifecycle": self = .lifecycle
        case "compaction": self = .compactionJournal
        case "LOCK": self = .lock
        case "batches.idx": self = .batchIndex
        case "streams.idx": self = .streamIndex
        case "blocks.idx": self = .blockIndex
        case "keys.idx", "keys.idx.grown": self = .keyIndex
        default:
            if name.hasSuffix(".tmp") || name.hasSuffix(".grow") {
                self = .temporary
            } else if name.hasPrefix("segment-") && name.hasSuffix(".log") {
                self = .segment
            } else if name.hasPrefix("snapshot-") && name.hasSuffix(".snap") {
                self = .snapshot
            } else if name.hasPrefix("subscriptions/") && name.hasSuffix(".sub") {
                self = .subscription
            } else {
                self = .other
            }
        }
    }

    /// Whether the file is one of the memory-mapped indexes.
    package var isIndex: Bool { [.batchIndex, .streamIndex, .blockIndex, .keyIndex].contains(self) }

    package static func < (lhs: StoreFileKind, rhs: StoreFileKind) -> Bool { lhs.rawValue < rhs.rawValue }
}
