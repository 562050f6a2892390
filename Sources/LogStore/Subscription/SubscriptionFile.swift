import EventSourcingCore

/// The record of one subscription: `subscriptions/<name>.sub` in the store's directory.
///
/// ```
/// header, written once when the subscription is created (temporary file, fsync, rename):
/// +----------+---------+------------+----------+------------+------------+-------+
/// | "EVSUB\0\0\x01" | format u32 | headerBytes u32 | nameLen u32 | streamLen u32 |
/// +----------+---------+------------+----------+------------+------------+-------+
/// | filterLen u32 | flags u32 (bit 0: has a filter) | name | stream | filter JSON | crc32c u32 |
/// +--------------------------------------------------------------------------------------------+
/// two position slots, at `slotsOffset` (the header rounded up to 64) and 32 bytes after it:
/// +----------------+--------------+------------+----------+
/// | generation u64 | position i64 | crc32c u32 | 12 zeros |   crc32c of generation and position
/// +----------------+--------------+------------+----------+
/// ```
///
/// Little-endian throughout. Reading takes the valid slot of the higher generation, whichever
/// slot it is in. A holder keeps one slot durable and writes only the other one (see
/// `LogSubscriptions.Hold`): a write torn by a crash leaves a slot whose checksum fails, and the
/// durable slot still holds an older position.
struct SubscriptionFile {
    static let magic: [UInt8] = Array("EVSUB".utf8) + [0, 0, 1]
    static let format: UInt32 = 1
    static let slotBytes = 32
    static let suffix = ".sub"

    var record: SubscriptionRecord
    var generation: UInt64
    /// The slot (0 or 1) that holds `generation`.
    var slot: Int

    /// Where the slots start for a header of `headerBytes`.
    static func slotsOffset(headerBytes: Int) -> Int { (headerBytes + 63) & ~63 }

    /// The header and both slots of a new record (generation 1 in slot 1; slot 0 empty).
    static func encodeNew(_ record: SubscriptionRecord) -> [UInt8] {
        let name = Array(record.name.utf8)
        let stream = Array(record.stream.utf8)
        let filter = Array((record.filterText ?? "").utf8)
        var writer = ByteWriter()
        writer.append(contentsOf: magic)
        writer.append(format)
        let headerBytes = 8 + 4 * 6 + name.count + stream.count + filter.count + 4
        writer.append(UInt32(headerBytes))
        writer.append(UInt32(name.count))
        writer.append(UInt32(stream.count))
        writer.append(UInt32(filter.count))
        writer.append(UInt32(record.filter == nil ? 0 : 1))
        writer.append(contentsOf: name)
        writer.append(contentsOf: stream)
        writer.append(contentsOf: filter)
        writer.append(Checksum.crc32c(writer.bytes))
        precondition(writer.bytes.count == headerBytes, "the header is as long as it says")
        var bytes = writer.bytes
        let slots = slotsOffset(headerBytes: headerBytes)
        bytes += [UInt8](repeating: 0, count: slots - headerBytes + 2 * slotBytes)
        let slot = encodeSlot(generation: 1, position: record.position)
        bytes.replaceSubrange((slots + slotBytes)..<(slots + 2 * slotBytes), with: slot)
        return bytes
    }

    /// One slot's bytes.
    static func encodeSlot(generation: UInt64, position: Int64) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(generation)
        writer.append(position)
        writer.append(Checksum.crc32c(writer.bytes))
        writer.append(contentsOf: [UInt8](repeating: 0, count: slotBytes - 20))
        precondition(writer.bytes.count == slotBytes, "a slot is as long as its place")
        return writer.bytes
    }

    /// Where `slot` (0 or 1) is in a file whose slots start at `slotsOffset`.
    static func slotOffset(slot: Int, slotsOffset: Int) -> Int { slotsOffset + slot * slotBytes }

    /// Reads a record file.
    /// - Returns: the record, its generation, and where its slots start.
    /// - Throws: `EventStoreError.corruption` naming the file when the header or both slots are damaged.
    static func decode(_ bytes: [UInt8], path: String) throws -> (file: SubscriptionFile, slotsOffset: Int) {
        try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw, context: "subscription record '\(path)'")
            guard raw.count >= 8 + 4 * 6 + 4, Array(raw[0..<8]) == magic else {
                throw reader.damaged("not a subscription record")
            }
            reader.offset = 8
            let format = try reader.read(UInt32.self)
            guard format == Self.format else { throw reader.damaged("format \(format) is not one this version reads") }
            let headerBytes = Int(try reader.read(UInt32.self))
            let nameCount = Int(try reader.read(UInt32.self))
            let streamCount = Int(try reader.read(UInt32.self))
            let filterCount = Int(try reader.read(UInt32.self))
            let flags = try reader.read(UInt32.self)
            guard headerBytes == 8 + 4 * 6 + nameCount + streamCount + filterCount + 4,
                headerBytes <= raw.count
            else { throw reader.damaged("header length \(headerBytes) does not fit") }
            let stored = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: headerBytes - 4, as: UInt32.self))
            guard Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<(headerBytes - 4)])) == stored else {
                throw reader.damaged("the header's checksum does not match")
            }
            let name = String(decoding: try reader.readSlice(count: nameCount), as: UTF8.self)
            let stream = String(decoding: try reader.readSlice(count: streamCount), as: UTF8.self)
            let filterText = String(decoding: try reader.readSlice(count: filterCount), as: UTF8.self)
            let filter = flags & 1 == 1 ? try EventFilter(storedText: filterText) : nil
            let slots = slotsOffset(headerBytes: headerBytes)
            var best: (generation: UInt64, position: Int64, slot: Int)?
            for index in 0..<2 {
                let offset = slots + index * slotBytes
                guard offset + slotBytes <= raw.count else { continue }
                var slot = ByteReader(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + slotBytes)]), context: "")
                let generation = try slot.read(UInt64.self)
                let position = try slot.read(Int64.self)
                let crc = try slot.read(UInt32.self)
                guard generation > 0, position >= 0,
                    Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 16)])) == crc,
                    generation > best?.generation ?? 0
                else { continue }
                best = (generation, position, index)
            }
            guard let best else { throw reader.damaged("neither position slot is valid") }
            let record = SubscriptionRecord(name: name, stream: stream, filter: filter, position: best.position)
            return (SubscriptionFile(record: record, generation: best.generation, slot: best.slot), slots)
        }
    }

    /// The file name of the subscription `name`: bytes other than letters, digits, `-` and `_`
    /// (and `.` except first) as `%XX`, then `.sub`. At most 80 bytes make at most 244 characters.
    static func fileName(of name: String) -> String {
        var result = ""
        for (index, byte) in name.utf8.enumerated() {
            let scalar = Unicode.Scalar(byte)
            let isPlain =
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2D || byte == 0x5F || (byte == 0x2E && index > 0)
            if isPlain {
                result.unicodeScalars.append(scalar)
            } else {
                result += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return result + suffix
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
