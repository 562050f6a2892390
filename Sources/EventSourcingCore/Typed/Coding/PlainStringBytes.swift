/// Word-at-a-time scanning of a JSON string's bytes, for the runs that need no escaping: eight
/// bytes are checked with a few integer operations instead of one comparison chain per byte.
///
/// Thread-safety: stateless; call from any task.
enum PlainStringBytes {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Whether a byte of `word` equals `byte`. Exact when false; when true, at least one byte does
    /// (the borrow of the subtraction only flags bytes after a true match).
    @inline(__always)
    private static func contains(_ word: UInt64, _ byte: UInt8) -> Bool {
        let difference = word ^ (ones &* UInt64(byte))
        return (difference &- ones) & ~difference & highBits != 0
    }

    /// Whether a byte of `word` is below 0x20 (a control character), with the same exactness.
    @inline(__always)
    private static func containsControl(_ word: UInt64) -> Bool {
        (word &- ones &* 0x20) & ~word & highBits != 0
    }

    /// Where the whole words from `offset` that hold no `"`, `\`, control character (nor `/`
    /// when `slash`) end: every byte before the result needs no escape, and the byte-wise scan
    /// takes over from there.
    /// - Parameter nonASCII: Gets the high bits of the bytes passed over ORed in.
    @inline(__always)
    static func plainEnd(
        of bytes: UnsafeRawBufferPointer, from offset: Int, slash: Bool, nonASCII: inout UInt64
    ) -> Int {
        var end = offset
        while end &+ 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: end, as: UInt64.self)  // safe: end + 8 <= count
            if contains(word, UInt8(ascii: "\"")) || contains(word, UInt8(ascii: "\\")) || containsControl(word)
                || (slash && contains(word, UInt8(ascii: "/")))
            {
                break
            }
            nonASCII |= word & highBits
            end &+= 8
        }
        return end
    }

    /// The high bit of each byte of `word` (little-endian) that is `"`, `\` or a control character:
    /// the lowest set bit is exact, and zero means none is (the bits above the lowest may be spurious).
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
        let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
        return ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash | (word &- ones &* 0x20) & ~word) & highBits
    }
}
