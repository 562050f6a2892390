import EventSourcingCore

/// Appends little-endian integers and LEB128 varints to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    @inline(__always)
    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func append<C: Collection>(contentsOf data: C) where C.Element == UInt8 { bytes.append(contentsOf: data) }

    /// Overwrites a little-endian integer written earlier.
    mutating func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { source in
            for index in 0..<source.count { bytes[offset + index] = source[index] }
        }
    }
}

/// Reads little-endian integers and varints from borrowed bytes, checking every bound: a read past
/// the end throws `EventStoreError.corruption` with the context and offset.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int
    let context: String

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0, context: String) {
        self.bytes = bytes
        self.offset = offset
        self.context = context
    }

    var remaining: Int { bytes.count - offset }

    /// A reader of a small file written whole (the lifecycle file, a compaction journal, the
    /// record of removed segments): 8 bytes of `magic`, a u32 format, the body, and a CRC-32C of
    /// everything before it in the last 4 bytes. Checks all three and returns a reader placed just
    /// after the format.
    /// - Throws: `EventStoreError.corruption` with `context` when the file is not one, is
    ///   damaged, or is of another format.
    static func checkedFile(
        _ raw: UnsafeRawBufferPointer, magic: [UInt8], format: UInt32, minimumBytes: Int, context: String,
        kind: String
    ) throws -> ByteReader {
        var reader = ByteReader(raw, context: context)
        guard raw.count >= minimumBytes, Array(raw[0..<8]) == magic else { throw reader.damaged("not a \(kind)") }
        let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: raw.count - 4, as: UInt32.self))
        guard Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 4)])) == stored else {
            throw reader.damaged("its checksum does not match")
        }
        reader.offset = 8
        let found = try reader.read(UInt32.self)
        guard found == format else { throw reader.damaged("format \(found) is not one this version reads") }
        return reader
    }

    func damaged(_ what: String) -> EventStoreError {
        .corruption("\(context), byte \(offset): \(what)")
    }

    @inline(__always)
    mutating func read<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw damaged("truncated") }
        // safe: `size` bytes remain, checked above.
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += size
        return value
    }

    @inline(__always)
    mutating func readVarint() throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < bytes.count else { throw damaged("truncated varint") }
            let byte = bytes[offset]
            offset += 1
            guard shift < 64 else { throw damaged("varint too long") }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }

    /// A length-prefixed slice no longer than `maximum`.
    @inline(__always)
    mutating func readSlice(maximum: Int) throws -> UnsafeRawBufferPointer {
        let length = try readVarint()
        guard length <= UInt64(maximum), Int(length) <= remaining else {
            throw damaged("length \(length) out of bounds")
        }
        return try readSlice(count: Int(length))
    }

    @inline(__always)
    mutating func readSlice(count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, count <= remaining else { throw damaged("length \(count) out of bounds") }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
        offset += count
        return slice
    }
}
