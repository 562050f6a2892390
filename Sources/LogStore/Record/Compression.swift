import CLZ4
import EventSourcingCore

/// How stored bytes are encoded. The codec and the raw length always sit outside the compressed
/// bytes, and checksums cover the stored (compressed) bytes.
enum Codec: UInt8 {
    case raw = 0
    case lz4 = 1
    /// Compaction removed the events (all hidden): the payload is zeros (or a hole), and the
    /// frame's checksum covers only its header and stream id (segment format 3).
    case compacted = 2

    /// Compresses `bytes` with LZ4 when that saves at least an eighth, else keeps them raw.
    static func compressIfWorthwhile(_ bytes: [UInt8], minimumBytes: Int = 512) -> (Codec, [UInt8]) {
        guard bytes.count >= minimumBytes, let compressed = LZ4.compress(bytes),
            compressed.count <= bytes.count - bytes.count / 8
        else { return (.raw, bytes) }
        return (.lz4, compressed)
    }
}

/// liblz4's block format, through the CLZ4 system-library target.
enum LZ4 {
    /// The compressed block, or `nil` when liblz4 fails (it does not for valid sizes).
    static func compress(_ bytes: [UInt8]) -> [UInt8]? {
        guard bytes.count < Int(LZ4_MAX_INPUT_SIZE) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(bytes.count)))
        var failed = false
        // Uninitialized: liblz4 writes every byte it reports, and only those are kept.
        let output = [UInt8](unsafeUninitializedCapacity: bound) { out, initialized in
            let written = bytes.withUnsafeBytes { input in
                LZ4_compress_default(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self),
                    UnsafeMutableRawPointer(out.baseAddress!).assumingMemoryBound(to: CChar.self), Int32(bytes.count),
                    Int32(bound))
            }
            failed = written <= 0
            initialized = max(0, Int(written))
        }
        return failed ? nil : output
    }

    /// Decompresses exactly `rawCount` bytes from `compressed`.
    /// - Throws: `EventStoreError.corruption` (with `context`) when the block is not valid LZ4 of that size.
    static func decompress(_ compressed: UnsafeRawBufferPointer, rawCount: Int, context: @autoclosure () -> String)
        throws -> [UInt8]
    {
        guard rawCount >= 0, rawCount <= Int(Int32.max), compressed.count <= Int(Int32.max) else {
            throw EventStoreError.corruption("\(context()): compressed sizes out of range")
        }
        var output = [UInt8](repeating: 0, count: rawCount)
        let produced = output.withUnsafeMutableBytes { out in
            LZ4_decompress_safe(
                compressed.baseAddress?.assumingMemoryBound(to: CChar.self),
                out.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(compressed.count), Int32(rawCount))
        }
        guard produced == Int32(rawCount) else {
            throw EventStoreError.corruption("\(context()): LZ4 block does not decode to \(rawCount) bytes")
        }
        return output
    }
}
