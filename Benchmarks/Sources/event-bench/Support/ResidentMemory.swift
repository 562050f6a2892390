import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// This process's resident memory, read from /proc/self/status (Linux).
///
/// `VmRSS` counts every resident page, including pages of memory-mapped files (the log engine maps
/// its segments and indexes, and those pages are page cache the kernel can drop); `RssAnon` counts
/// only anonymous memory (heap, stacks), which is what a replay itself allocates. `VmHWM` is the
/// peak of `VmRSS`; writing 5 to /proc/self/clear_refs resets it to the current value.
struct ResidentMemory: Sendable {
    var residentBytes: Int
    var anonymousBytes: Int
    var fileBytes: Int
    var peakResidentBytes: Int

    /// Reads /proc/self/status now; zero where a field is missing.
    static func now() -> ResidentMemory {
        var result = ResidentMemory(residentBytes: 0, anonymousBytes: 0, fileBytes: 0, peakResidentBytes: 0)
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return result }
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" })
            guard parts.count >= 2, let kilobytes = Int(parts[1]) else { continue }
            switch parts[0] {
            case "VmRSS": result.residentBytes = kilobytes * 1024
            case "RssAnon": result.anonymousBytes = kilobytes * 1024
            case "RssFile": result.fileBytes = kilobytes * 1024
            case "VmHWM": result.peakResidentBytes = kilobytes * 1024
            default: break
            }
        }
        return result
    }

    /// Resets the kernel's peak (`VmHWM`) to the current resident size; false where not allowed.
    @discardableResult
    static func resetPeak() -> Bool {
        let descriptor = open("/proc/self/clear_refs", O_WRONLY)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        return write(descriptor, "5", 1) == 1
    }

    /// Returns freed heap memory to the system, so a baseline is not inflated by earlier workloads.
    /// (`malloc_trim(3)`, looked up at run time: glibc's malloc.h is not part of the Glibc module.)
    static func trimHeap() {
        typealias Trim = @convention(c) (Int) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: Trim.self)(0)
    }
}

/// Samples resident memory on its own thread every few milliseconds and keeps the peaks.
final class MemorySampler: Sendable {
    private struct Peaks {
        var resident = 0
        var anonymous = 0
        var samples = 0
    }

    private let peaks = Mutex(Peaks())
    private let isRunning = Atomic<Bool>(true)
    private let finished = Mutex<Bool>(false)

    /// Starts sampling every `interval`.
    init(interval: Duration = .milliseconds(5)) {
        let sleepMicroseconds = UInt32(Timing.microseconds(interval))
        let thread = Thread { [self] in
            while isRunning.load(ordering: .relaxed) {
                let now = ResidentMemory.now()
                peaks.withLock {
                    $0.resident = max($0.resident, now.residentBytes)
                    $0.anonymous = max($0.anonymous, now.anonymousBytes)
                    $0.samples += 1
                }
                usleep(sleepMicroseconds)
            }
            finished.withLock { $0 = true }
        }
        thread.name = "event-bench-memory"
        thread.start()
    }

    /// Stops sampling (waits for the thread) and returns the peaks seen, in bytes.
    func stop() -> (resident: Int, anonymous: Int, samples: Int) {
        isRunning.store(false, ordering: .relaxed)
        while !finished.withLock({ $0 }) { usleep(1000) }
        let now = ResidentMemory.now()
        return peaks.withLock {
            (max($0.resident, now.residentBytes), max($0.anonymous, now.anonymousBytes), $0.samples + 1)
        }
    }
}
