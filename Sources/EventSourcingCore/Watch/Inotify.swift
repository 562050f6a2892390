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
        descriptor = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard descriptor >= 0 else { throw Self.error("inotify_init1", errno) }
        var ends: [Int32] = [0, 0]
        do {
            guard pipe(&ends) == 0 else { throw Self.error("pipe", errno) }
            for end in ends {
                _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            }
        } catch {
            close(descriptor)
            throw error
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
    }

    deinit {
        close(descriptor)
        close(wakeRead)
        close(wakeWrite)
    }

    private static func error(_ call: String, _ code: Int32) -> EventStoreError {
        .io("\(call) failed: \(String(cString: strerror(code))) (errno \(code))")
    }

    /// Watches `path` for `mask` (`inotify_add_watch(2)`); `false` when the path does not exist.
    @discardableResult
    package func watch(_ path: String, mask: UInt32) throws -> Bool {
        let result = inotify_add_watch(descriptor, path, mask)
        if result >= 0 { return true }
        if errno == ENOENT { return false }
        throw Self.error("inotify_add_watch on '\(path)'", errno)
    }

    /// Waits until an event arrives, `wake` is called, or `timeoutMilliseconds` pass (`poll(2)`),
    /// then drains every pending event.
    /// - Returns: the masks of the events drained (empty after a timeout or a wake alone).
    package func wait(timeoutMilliseconds: Int32) -> [UInt32] {
        var fds = [
            pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&fds, 2, timeoutMilliseconds)
        guard ready > 0 else { return [] }
        var masks: [UInt32] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        if fds[1].revents != 0 {
            while buffer.withUnsafeMutableBytes({ read(wakeRead, $0.baseAddress, $0.count) }) > 0 {}
        }
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
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
        _ = write(wakeWrite, &byte, 1)
    }
}
