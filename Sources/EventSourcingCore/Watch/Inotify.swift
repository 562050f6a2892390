#if canImport(Glibc)
    import Glibc
#endif

/// Linux inotify, through Glibc: an instance, its watches, and a self-pipe so another thread can
/// wake a waiter. Events are only hints; callers re-read what they watch after every wake-up,
/// so merged events and a queue overflow (`IN_Q_OVERFLOW`) are harmless.
///
/// Thread-safety: one thread waits; any thread may call `wake`.
package final class Inotify: @unchecked Sendable {  // safe: descriptors are immutable; wake only writes the pipe
    private let descriptor: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Creates an instance (`inotify_init1(2)`) and its wake pipe (`pipe(2)`, made non-blocking and
    /// close-on-exec with `fcntl(2)`).
    package init() throws {
        let descriptor = try SystemCall.run("inotify_init1", path: "") { inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC)) }
        var ends: [Int32] = [0, 0]
        do {
            try SystemCall.run("pipe", path: "") { pipe(&ends) }
            for end in ends {
                let flags = try SystemCall.run("fcntl", path: "") { fcntl(end, F_GETFL) }
                try SystemCall.run("fcntl", path: "") { fcntl(end, F_SETFL, flags | O_NONBLOCK) }
                try SystemCall.run("fcntl", path: "") { fcntl(end, F_SETFD, FD_CLOEXEC) }
            }
        } catch {
            close(descriptor)
            throw error
        }
        self.descriptor = descriptor
        wakeRead = ends[0]
        wakeWrite = ends[1]
    }

    deinit {
        close(descriptor)
        close(wakeRead)
        close(wakeWrite)
    }

    /// Watches `path` for `mask` (`inotify_add_watch(2)`); `false` when the path does not exist.
    @discardableResult
    package func watch(_ path: String, mask: UInt32) throws -> Bool {
        do {
            try SystemCall.run("inotify_add_watch", path: path) { inotify_add_watch(descriptor, path, mask) }
            return true
        } catch let error as SystemError where error.code == ENOENT {
            return false
        } catch let error as SystemError {
            throw error.storeError
        }
    }

    /// Waits until an event arrives, `wake` is called, or `timeoutMilliseconds` pass (`poll(2)`),
    /// then drains every pending event.
    /// - Returns: the masks of the events drained (empty after a timeout or a wake alone).
    package func wait(timeoutMilliseconds: Int32) -> [UInt32] {
        var fds = [
            pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        // An interrupted poll (EINTR) returns early: the caller re-reads what it watches anyway.
        let ready = (try? SystemCall.run("poll", path: "") { poll(&fds, 2, timeoutMilliseconds) }) ?? 0
        guard ready > 0 else { return [] }
        var masks: [UInt32] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        if fds[1].revents != 0 {
            while Self.read(wakeRead, into: &buffer) > 0 {}
        }
        while true {
            let count = Self.read(descriptor, into: &buffer)
            guard count > 0 else { break }
            var offset = 0
            buffer.withUnsafeBytes { raw in
                while offset + MemoryLayout<inotify_event>.size <= count {
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let nameLength = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    masks.append(mask)
                    offset += MemoryLayout<inotify_event>.size + nameLength
                }
            }
        }
        return masks
    }

    /// Wakes a thread blocked in `wait`.
    package func wake() {
        var byte: UInt8 = 1
        // A full pipe (EAGAIN) already holds a wake-up.
        _ = try? SystemCall.run("write", path: "") { write(wakeWrite, &byte, 1) }
    }

    /// Reads what a non-blocking descriptor holds into `buffer` (EINTR retried); 0 when nothing is there.
    private static func read(_ descriptor: Int32, into buffer: inout [UInt8]) -> Int {
        buffer.withUnsafeMutableBytes { raw in
            (try? SystemCall.run("read", path: "") { Glibc.read(descriptor, raw.baseAddress, raw.count) }) ?? 0
        }
    }
}
