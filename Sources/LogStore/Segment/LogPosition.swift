/// Where a batch frame starts: a segment's ordinal and a byte offset in it, packed in 64 bits
/// (24 for the ordinal, 40 for the offset) so index entries stay fixed-width. A wrapper type so an
/// offset is never passed where a version or sequence id belongs.
struct LogPosition: Hashable, Comparable, CustomStringConvertible {
    static let offsetBits: UInt64 = 40
    static let segmentOrdinalMax = EngineLimits.segmentOrdinalMax
    static let offsetMax = EngineLimits.segmentOffsetMax

    let rawValue: UInt64

    init(rawValue: UInt64) { self.rawValue = rawValue }

    init(segment: Int, offset: Int) {
        precondition(segment >= 1 && segment <= Self.segmentOrdinalMax, "segment ordinal out of range")
        precondition(offset >= 0 && offset <= Self.offsetMax, "segment offset out of range")
        rawValue = UInt64(segment) << Self.offsetBits | UInt64(offset)
    }

    var segment: Int { Int(rawValue >> Self.offsetBits) }
    var offset: Int { Int(rawValue & ((1 << Self.offsetBits) - 1)) }

    static func < (lhs: LogPosition, rhs: LogPosition) -> Bool { lhs.rawValue < rhs.rawValue }

    var description: String { "segment \(segment) offset \(offset)" }
}
