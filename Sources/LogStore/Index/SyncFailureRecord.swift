import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// `sync-failed`: left by a writer whose log sync failed and could not take the unsynced writes
/// back. Linux may mark the pages of a failed sync clean and report success on the next one, so
/// until the machine restarts, the page cache may show frames that never reach the disk. Every
/// open in the same boot (writer or reader) takes the log to end at `durableEnd`; a writer's open
/// cuts it there and removes the record. After a restart the disk holds what it holds, and the
/// record is stale (recovery's usual rules apply).
///
/// ```
///  0  8  magic "EVSYNCF1"
///  8  8  the log end known durable (LogPosition)
/// 16 36  the boot id (/proc/sys/kernel/random/boot_id), ASCII
/// 52  4  CRC-32C of bytes [0, 52)
/// ```
/// Written with one `pwrite` and not synced: it matters only in the boot that wrote it.
struct SyncFailureRecord: Equatable {
    static let magic: UInt64 = 0x3146_434E_5953_5645  // "EVSYNCF1"
    static let bytes = 56
    static let bootIDBytes = 36

    var durableEnd: LogPosition
    var bootID: [UInt8]

    static func path(_ directory: String) -> String { directory + "/sync-failed" }

    /// This boot's id, or `nil` where the kernel does not tell (then every record counts as this boot's).
    static let currentBootID: [UInt8]? = {
        let descriptor = Glibc.open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { Glibc.close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: bootIDBytes)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, bootIDBytes) }
        return count == bootIDBytes ? buffer : nil
    }()

    init(durableEnd: LogPosition, bootID: [UInt8]? = Self.currentBootID) {
        self.durableEnd = durableEnd
        self.bootID = bootID ?? [UInt8](repeating: 0, count: Self.bootIDBytes)
    }

    /// Whether the record was written in this boot (or the boot cannot be told).
    var isFromThisBoot: Bool { Self.currentBootID.map { $0 == bootID } ?? true }

    func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.bytes)
        writer.append(Self.magic)
        writer.append(durableEnd.rawValue)
        writer.append(contentsOf: bootID)
        writer.append(Checksum.crc32c(writer.bytes))
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) -> SyncFailureRecord? {
        guard bytes.count >= Self.bytes else { return nil }
        return bytes.withUnsafeBytes { raw in
            guard raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian == magic,
                raw.loadUnaligned(fromByteOffset: 52, as: UInt32.self).littleEndian
                    == Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<52]))
            else { return nil }
            return SyncFailureRecord(
                durableEnd: LogPosition(rawValue: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian),
                bootID: Array(bytes[16..<52]))
        }
    }

    /// The record in `directory` if one is there and was written in this boot.
    static func read(directory: String, io: any FileIO) -> SyncFailureRecord? {
        guard let file = try? SystemFile.openIfExists(path(directory), io: io),
            let bytes = try? file.read(count: Self.bytes, at: 0), let record = decode(bytes), record.isFromThisBoot
        else { return nil }
        return record
    }

    /// Writes the record (not synced).
    func write(directory: String, fileMode: mode_t, io: any FileIO) throws {
        let file = try SystemFile.open(path(directory: directory), flags: O_RDWR | O_CREAT, mode: fileMode, io: io)
        try file.write(encoded(), at: 0)
    }

    private func path(directory: String) -> String { Self.path(directory) }
}
