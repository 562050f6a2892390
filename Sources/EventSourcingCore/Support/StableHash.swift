/// A 64-bit hash that is the same in every process and release, for on-disk hash tables (Swift's
/// `Hasher` is seeded per process), and fast for in-memory ones (a word at a time). Never 0, so 0
/// can mark an empty slot. The log store's on-disk tables depend on it (docs/FORMAT.md): it never
/// changes.
package enum StableHash {
    private static let prime: UInt64 = 0x9E37_79B9_7F4A_7C15

    @inline(__always)
    private static func mix(_ value: UInt64) -> UInt64 {
        // The splitmix64 finalizer: full avalanche.
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The hash of `bytes`, starting from `seed`.
    package static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0x5EED) -> UInt64 {
        var state = mix(seed ^ UInt64(bytes.count) &* prime)
        var offset = 0
        while offset + 8 <= bytes.count {
            // safe: 8 bytes remain, checked by the loop condition.
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            state = mix(state ^ word) &* prime
            offset += 8
        }
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while offset < bytes.count {
            tail |= UInt64(bytes[offset]) << shift
            shift += 8
            offset += 1
        }
        let result = mix(state ^ tail ^ 0xA5A5_A5A5)
        return result == 0 ? 1 : result
    }

    package static func hash(_ string: String, seed: UInt64 = 0x5EED) -> UInt64 {
        // A native string lends its UTF-8 in place; others (bridged, say) are made native first.
        if let hash = string.utf8.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0), seed: seed) }) {
            return hash
        }
        var native = string
        return native.withUTF8 { hash(UnsafeRawBufferPointer($0), seed: seed) }
    }
}
