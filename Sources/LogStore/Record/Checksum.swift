import CChecksum

/// CRC-32C (Castagnoli), the checksum of every frame, footer, index and snapshot file.
enum Checksum {
    /// The CRC-32C of `bytes`, continuing from `crc` (0 to start).
    @inline(__always)
    static func crc32c(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return crc }
        return cchecksum_crc32c(crc, base, bytes.count)
    }

    static func crc32c(_ bytes: [UInt8], continuing crc: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { crc32c($0, continuing: crc) }
    }

    /// Whether the CPU's crc32 instruction is used.
    static var isHardwareAccelerated: Bool { cchecksum_crc32c_is_hardware() != 0 }
}
