import CChecksum
import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// An open file descriptor, closed in `deinit`. Every method names the C function it calls and
/// throws `EventStoreError.io` on failure (see `SystemCall`).
///
/// Thread-safety: positioned reads and writes (`pread`/`pwrite`) may run from several threads; the
/// engine gives each file one writer.
final class SystemFile: @unchecked Sendable {  // safe: the descriptor is immutable and closed only in deinit
    let descriptor: Int32
    let path: String
    /// The seam every operation on this file goes through.
    let io: any FileIO

    private init(descriptor: Int32, path: String, io: any FileIO) {
        self.descriptor = descriptor
        self.path = path
        self.io = io
    }

    deinit { io.close(descriptor) }

    /// `open(2)` with `O_CLOEXEC | O_NOFOLLOW`: a symbolic link is never followed.
    static func open(_ path: String, flags: Int32, mode: mode_t = 0o644, io: any FileIO) throws -> SystemFile {
        let descriptor = try SystemCall.run("open", path: path) {
            io.open(path, flags: flags | O_CLOEXEC | O_NOFOLLOW, mode: mode)
        }
        return SystemFile(descriptor: descriptor, path: path, io: io)
    }

    /// Opens for reading, or `nil` when the file does not exist.
    static func openIfExists(_ path: String, writable: Bool = false, io: any FileIO) throws -> SystemFile? {
        do {
            return try open(path, flags: writable ? O_RDWR : O_RDONLY, io: io)
        } catch let error as SystemError where error.code == ENOENT {
            return nil
        }
    }

    /// The file's size in bytes (`fstat(2)`).
    func size() throws -> Int {
        var status = stat()
        try SystemCall.run("fstat", path: path) { fstat(descriptor, &status) }
        return Int(status.st_size)
    }

    /// Reads exactly `count` bytes at `offset` (`pread(2)`, repeated over short reads).
    /// - Throws: `EventStoreError.corruption` when the file ends first.
    func read(count: Int, at offset: Int) throws -> [UInt8] {
        try read(count: count, at: offset, onlyIfCached: false)!
    }

    /// Reads the whole file.
    func readAll() throws -> [UInt8] { try read(count: size(), at: 0) }

    /// Reads the whole file if the page cache holds all of it, without waiting for the disk.
    /// - Returns: `nil` when a read would wait (or this kernel or file system cannot tell).
    func readAllIfCached() throws -> [UInt8]? { try read(count: size(), at: 0, onlyIfCached: true) }

    /// Reads exactly `count` bytes at `offset`, with `pread`, or with `preadv2(RWF_NOWAIT)` when
    /// `onlyIfCached` (then `nil` when a read would wait, or the kernel or file system cannot tell).
    private func read(count: Int, at offset: Int, onlyIfCached: Bool) throws -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        let complete = try bytes.withUnsafeMutableBytes { buffer -> Bool in
            while done < count {
                let got: Int
                do {
                    got = try SystemCall.run(onlyIfCached ? "preadv2" : "pread", path: path) {
                        onlyIfCached
                            ? cfileio_pread_cached(descriptor, buffer.baseAddress! + done, count - done, off_t(offset + done))
                            : io.pread(descriptor, buffer.baseAddress! + done, count - done, offset + done)
                    }
                } catch let error as SystemError
                    where onlyIfCached && [EAGAIN, ENOSYS, EOPNOTSUPP, EINVAL].contains(error.code)
                {
                    return false
                }
                if got == 0 {
                    throw EventStoreError.corruption(
                        "'\(path)' ends at byte \(offset + done), \(count - done) bytes early")
                }
                done += got
            }
            return true
        }
        return complete ? bytes : nil
    }

    /// Hands `[offset, offset + count)` to `body` in chunks read with `pread` (at most 1 MiB each,
    /// a multiple of `alignment` bytes), so scanning a large file does not make its mapped pages
    /// resident in this process.
    func forEachChunk(
        offset: Int, count: Int, alignment: Int = 1, _ body: (UnsafeRawBufferPointer) throws -> Void
    ) throws {
        let chunkBytes = max(alignment, (1 << 20) / alignment * alignment)
        var done = 0
        while done < count {
            let length = min(chunkBytes, count - done)
            let bytes = try read(count: length, at: offset + done)
            try bytes.withUnsafeBytes(body)
            done += length
        }
    }

    /// The CRC-32C of `[offset, offset + count)`, read with `pread`, continuing from `crc`.
    func checksum(offset: Int, count: Int, continuing crc: UInt32 = 0) throws -> UInt32 {
        var result = crc
        try forEachChunk(offset: offset, count: count) { result = Checksum.crc32c($0, continuing: result) }
        return result
    }

    /// Writes all of `bytes` at `offset` (`pwrite(2)`, repeated over short writes).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let wrote = try SystemCall.run("pwrite", path: path) {
                io.pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, offset + done)
            }
            precondition(wrote > 0, "pwrite wrote nothing without an error")
            done += wrote
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        try bytes.withUnsafeBytes { try write($0, at: offset) }
    }

    /// Flushes data (and the size, when it changed) to stable storage (`fdatasync(2)`).
    /// Writes `count` zero bytes from `offset`.
    /// Zeroes `[offset, offset + count)` and frees its whole blocks (a hole); where the file
    /// system cannot punch holes, writes zeros instead. Not synced.
    func punchHole(at offset: Int, count: Int) throws {
        guard count > 0 else { return }
        if io.punchHole(descriptor, offset, count) == 0 { return }
        let code = errno
        guard code == EOPNOTSUPP || code == ENOSYS else {
            throw SystemCall.error("fallocate(PUNCH_HOLE)", path: path, code: code)
        }
        try writeZeros(at: offset, count: count)
    }

    func writeZeros(at offset: Int, count: Int) throws {
        let zeros = [UInt8](repeating: 0, count: min(count, 1 << 20))
        var done = 0
        while done < count {
            let length = min(zeros.count, count - done)
            try zeros.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<length]), at: offset + done) }
            done += length
        }
    }

    func synchronizeData() throws {
        try SystemCall.run("fdatasync", path: path) { io.fdatasync(descriptor) }
    }

    /// Flushes data and metadata (`fsync(2)`).
    func synchronize() throws {
        try SystemCall.run("fsync", path: path) { io.fsync(descriptor) }
    }

    /// Sets the size (`ftruncate(2)`).
    func truncate(to size: Int) throws {
        try SystemCall.run("ftruncate", path: path) { io.ftruncate(descriptor, size) }
    }

    /// Allocates blocks for `[0, size)` so that writes through a mapping cannot fault on a full
    /// disk (`posix_fallocate(3)`, which returns the error instead of setting errno).
    func allocate(size: Int) throws {
        while true {
            let code = io.fallocate(descriptor, size)
            if code == 0 { return }
            if code == EINTR { continue }
            throw SystemCall.error("posix_fallocate", path: path, code: code)
        }
    }

    /// Takes an exclusive advisory lock without waiting (`flock(2)` with `LOCK_EX | LOCK_NB`).
    /// - Returns: `false` when another open file description holds it.
    func tryLockExclusive() throws -> Bool { try tryLock(LOCK_EX) }

    /// Takes a shared advisory lock without waiting (`flock(2)` with `LOCK_SH | LOCK_NB`).
    /// - Returns: `false` when another open file description holds it exclusively.
    func tryLockShared() throws -> Bool { try tryLock(LOCK_SH) }

    /// Releases this file's advisory lock.
    func unlock() { flock(descriptor, LOCK_UN) }

    /// Takes an exclusive advisory lock, waiting for other holders (`flock(2)` with `LOCK_EX`).
    func lockExclusive() throws {
        while flock(descriptor, LOCK_EX) != 0 {
            let code = errno
            if code == EINTR { continue }
            throw SystemCall.error("flock", path: path, code: code)
        }
    }

    /// Whether `path` still names this open file (`fstat(2)` and `lstat(2)`): `false` once it was
    /// unlinked or replaced.
    func isStillLinked(at path: String) throws -> Bool {
        var open = stat()
        try SystemCall.run("fstat", path: self.path) { fstat(descriptor, &open) }
        var named = stat()
        guard lstat(path, &named) == 0 else { return false }
        return open.st_nlink > 0 && open.st_ino == named.st_ino && open.st_dev == named.st_dev
    }

    private func tryLock(_ operation: Int32) throws -> Bool {
        while true {
            if flock(descriptor, operation | LOCK_NB) == 0 { return true }
            let code = errno
            if code == EINTR { continue }
            if code == EWOULDBLOCK { return false }
            throw SystemCall.error("flock", path: path, code: code)
        }
    }
}

/// Directory-level operations, through a `FileIO` where they change something.
enum Directory {
    /// Creates `path` (mode 0755) unless it exists (`mkdir(2)`).
    static func create(_ path: String, io: any FileIO) throws {
        if io.mkdir(path, 0o755) == 0 { return }
        let code = errno
        if code == EEXIST {
            var status = stat()
            if lstat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR { return }
            throw EventStoreError.io("'\(path)' exists and is not a directory")
        }
        throw SystemCall.error("mkdir", path: path, code: code)
    }

    /// Whether `path` is a directory (not following a symbolic link).
    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// Whether a file exists at `path` (not following a symbolic link).
    static func fileExists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// The names in `path`, without "." and ".." (`opendir(3)`/`readdir(3)`).
    static func names(in path: String) throws -> [String] {
        guard let handle = opendir(path) else { throw SystemCall.error("opendir", path: path, code: errno) }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Replaces the file at `path` with `bytes` atomically and durably: a temporary file beside it,
    /// written and synced, renamed over it, and the directory synced; a crash leaves the old file
    /// or the new one, and a temporary file that open removes.
    static func replace(_ path: String, with bytes: [UInt8], fileMode: mode_t, io: any FileIO) throws {
        let temporary = path + ".tmp"
        try remove(temporary, io: io)
        let file = try SystemFile.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: fileMode, io: io)
        try file.write(bytes, at: 0)
        try file.synchronize()
        try rename(temporary, to: path, io: io)
        let slash = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        try synchronize(slash.isEmpty ? "/" : slash, io: io)
    }

    /// Makes the directory's entries (new files, renames) durable (`fsync(2)` on the directory).
    static func synchronize(_ path: String, io: any FileIO) throws {
        let directory = try SystemFile.open(path, flags: O_RDONLY | O_DIRECTORY, io: io)
        try directory.synchronize()
    }

    /// `rename(2)`.
    static func rename(_ from: String, to: String, io: any FileIO) throws {
        try SystemCall.run("rename", path: from) { io.rename(from, to) }
    }

    /// `unlink(2)`; a missing file is not an error.
    static func remove(_ path: String, io: any FileIO) throws {
        if io.unlink(path) == 0 || errno == ENOENT { return }
        throw SystemCall.error("unlink", path: path, code: errno)
    }
}
