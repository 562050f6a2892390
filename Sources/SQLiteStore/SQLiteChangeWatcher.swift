import CSQLite
import EventSourcingCore
import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Wakes a SQLite store's watchers when another process (or connection) appends: a thread waits on
/// inotify for changes to the database file and its WAL, then reads the newest row id with its own
/// connection (a real read, so it sees every commit; `PRAGMA data_version` alone does not start a
/// read and can lag a commit by another process). Once a second it checks anyway, as a safety net
/// (and as the only mechanism where inotify is unavailable).
///
/// Thread-safety: `@unchecked Sendable` because the connection and the flags are used only by the
/// watcher thread (after one read in `init`, before the thread starts), except `isStopping`, which
/// is guarded by `condition`.
final class SQLiteChangeWatcher: @unchecked Sendable {
    private let hub: WatchHub
    private let connection: SQLiteConnection
    private let inotify: Inotify?
    private let condition = NSCondition()
    private var isStopping = false
    private var isRunning = true
    private let directory: String
    private let fileName: String

    init(path: String, hub: WatchHub, logger: Logger) throws {
        self.hub = hub
        connection = try SQLiteConnection(path: path, readOnly: true)
        let url = URL(fileURLWithPath: path)
        directory = url.deletingLastPathComponent().path
        fileName = url.lastPathComponent
        var inotify: Inotify?
        do {
            inotify = try Inotify()
            try inotify?.watch(directory, mask: UInt32(IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO))
        } catch {
            logger.warning(
                "inotify is unavailable; checking for other processes' writes once a second",
                metadata: ["error": "\(error)"])
            inotify = nil
        }
        self.inotify = inotify
        // The newest row as the store opens, read here rather than on the thread: a thread that
        // started late would take writes made meanwhile as already seen and never report them.
        let newest = newestRowID()
        let thread = Thread { [self] in self.run(after: newest) }
        thread.name = "sqlite-change-watcher"
        thread.start()
    }

    private func newestRowID() -> Int64? {
        guard let statement = try? connection.statement(SQLiteSchema.globalHead), (try? statement.step()) == true else {
            return nil
        }
        defer { statement.reset() }
        return statement.int64(0)
    }

    /// Watches for commits past `newest`, the newest row when the store opened. A commit made before
    /// this thread runs has already raised an inotify event (the watch is set up first), or is
    /// found by the once-a-second check.
    private func run(after newest: Int64?) {
        var last = newest
        while true {
            var woken = false
            if let inotify {
                woken = !inotify.wait(timeoutMilliseconds: 1000).isEmpty
            } else {
                usleep(1_000_000)
            }
            condition.lock()
            let stop = isStopping
            condition.unlock()
            if stop { break }
            var current = newestRowID()
            // inotify reports the WAL write; the commit becomes visible a moment later, through the
            // shared-memory index, which raises no event. So after a wake-up that shows nothing new,
            // look again a few times over ~50 ms before going back to sleep.
            var pause: UInt32 = 200
            while woken, current == last, pause <= 25_600 {
                usleep(pause)
                pause *= 2
                current = newestRowID()
            }
            if current != last {
                last = current
                hub.notify(streamID: nil)
            }
        }
        connection.close()
        condition.lock()
        isRunning = false
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the thread, closes its connection, and waits for it.
    func stop() {
        condition.lock()
        isStopping = true
        condition.unlock()
        inotify?.wake()
        condition.lock()
        while isRunning { condition.wait() }
        condition.unlock()
    }
}
