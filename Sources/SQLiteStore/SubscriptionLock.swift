import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// One consumer's hold on a subscription of a SQLite store: an open-file-description lock
/// (`fcntl(2)` `F_OFD_SETLK`) on byte `id` of `<database>-subscriptions`, a file beside the
/// database. The OS releases it when the process dies; two holds in one process conflict too,
/// since each opens the file anew.
///
/// The lock is not taken on the database file itself: closing any descriptor of a file drops
/// every classic POSIX lock the process holds on it, SQLite's own among them.
///
/// Thread-safety: immutable after `init`; `release` is called once.
final class SubscriptionLock: @unchecked Sendable {  // safe: the descriptor is released once, by its owner
    /// `F_OFD_SETLK` of Linux, which Glibc's Swift module does not export.
    private static let ofdSetLock: Int32 = 37

    private let descriptor: Int32

    /// Takes the lock of subscription `id` of the database at `databasePath`.
    /// - Returns: `nil` when another holder has it.
    /// - Throws: `EventStoreError.io` when the lock file cannot be opened or locked.
    ///
    /// A lock its holder just released can still be held for a moment: a child process that this
    /// process spawned meanwhile shares the lock's open file description until it runs its
    /// program (`O_CLOEXEC` closes it only then). So a refusal is tried again for up to about
    /// 50 ms before the lock is reported held.
    static func acquire(databasePath: String, id: Int64) throws -> SubscriptionLock? {
        for attempt in 0..<10 {
            if let lock = try acquireOnce(databasePath: databasePath, id: id) { return lock }
            if attempt < 9 { usleep(5_000) }
        }
        return nil
    }

    private static func acquireOnce(databasePath: String, id: Int64) throws -> SubscriptionLock? {
        let path = databasePath + "-subscriptions"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        guard descriptor >= 0 else { throw failure("open", path: path) }
        var lock = Glibc.flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        lock.l_start = off_t(id)
        lock.l_len = 1
        while fcntl(descriptor, ofdSetLock, &lock) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(descriptor)
            if code == EAGAIN || code == EACCES { return nil }
            errno = code
            throw failure("fcntl(F_OFD_SETLK)", path: path)
        }
        return SubscriptionLock(descriptor: descriptor)
    }

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Lets go of the lock (`close(2)` of its own descriptor).
    func release() { close(descriptor) }

    private static func failure(_ call: String, path: String) -> EventStoreError {
        .io("\(call) of '\(path)' failed: \(String(cString: strerror(errno)))")
    }
}
