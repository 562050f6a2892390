import CLogLoop

#if canImport(Glibc)
    import Glibc
#endif

/// The machine's reference for the log engine (issue 17), measured in the same run as the stores:
/// what a plain C loop (`Sources/CLogLoop/clogloop.c`) does with a minimal checksummed log of W1's
/// events, and what one durable small append costs with nothing around it. The log engine's W1
/// and W3 figures are reported as ratios to these.
enum MachineReference {
    /// The C loop's W1: its write and scan times over `records` records.
    struct LogLoop {
        let records: Int
        /// The write loop: encoding, one `write(2)` and one `fdatasync(2)` per batch.
        let write: Duration
        /// The median of the scans (`scanTimes`).
        let scan: Duration
        let scanTimes: [Duration]
        let bytes: Int

        var writeEventsPerSecond: Double { Double(records) / Timing.seconds(write) }
        var scanEventsPerSecond: Double { Double(records) / Timing.seconds(scan) }
        var bytesPerRecord: Double { Double(bytes) / Double(records) }
    }

    /// W1's events as the C loop writes them: the stream, type and key prefix of `Phases.keyedEvents`.
    static let streamID = "w1"
    static let type = "Increment"
    static let keyPrefix = "event-"

    /// Whether the C loop's CRC-32C runs on the SSE4.2 instruction (else a slicing-by-8 table).
    static var isHardwareChecksum: Bool { clogloop_crc32c_is_hardware() != 0 }

    /// Writes `records` of W1's events to a new file in `directory`, `batch` per `write` and
    /// `fdatasync`, then scans the file `scans` times, checking every record.
    /// - Throws: `BenchmarkError` naming the C call that failed, or when a scan counts other than `records`.
    static func logLoop(in directory: String, records: Int, batch: Int, scans: Int) throws -> LogLoop {
        precondition(records > 0 && batch > 0 && scans > 0, "the C loop needs records, a batch size and a scan")
        let path = directory + "/c-loop.log"
        var failure = clogloop_failure()
        var bytes: Int64 = 0
        let write = Timing.measureBlocking {
            bytes = clogloop_write(path, streamID, type, keyPrefix, Int64(records), Int64(batch), &failure)
        }
        guard bytes >= 0 else { throw error(failure, "C loop write") }
        var scanTimes: [Duration] = []
        for _ in 0..<scans {
            var count: Int64 = 0
            var fieldBytes: UInt64 = 0
            scanTimes.append(Timing.measureBlocking { count = clogloop_scan(path, &fieldBytes, &failure) })
            guard count >= 0 else { throw error(failure, "C loop scan") }
            try Phases.check(count == Int64(records), "the C loop's scan counted \(count) of \(records) records")
            // Every record's stream id, type and key were read: `fieldBytes` is their sum.
            try Phases.check(fieldBytes > UInt64(records), "the C loop's scan read \(fieldBytes) bytes of fields")
        }
        return LogLoop(
            records: records, write: write, scan: scanTimes.sorted()[scanTimes.count / 2], scanTimes: scanTimes,
            bytes: Int(bytes))
    }

    /// The latency of one durable small append with nothing around it: `samples` times (after
    /// `warmUp`), one `write(2)` of `recordBytes` bytes to the end of a new file in `directory`
    /// and one `fdatasync(2)`. The floor of a durable single-event write (W3).
    /// - Throws: `BenchmarkError` naming the C call that failed.
    static func syncLatency(in directory: String, warmUp: Int, samples: Int, recordBytes: Int) throws
        -> LatencySummary
    {
        precondition(samples > 0 && warmUp >= 0, "the fdatasync probe needs samples")
        var failure = clogloop_failure()
        var nanoseconds = [UInt64](repeating: 0, count: samples)
        let status = nanoseconds.withUnsafeMutableBufferPointer { buffer in
            clogloop_sync_latencies(
                directory + "/fdatasync-probe", Int32(warmUp), Int32(samples), Int32(recordBytes), buffer.baseAddress,
                &failure)
        }
        guard status == 0 else { throw error(failure, "fdatasync probe") }
        return LatencySummary(nanoseconds.map { Double($0) / 1_000 })
    }

    private static func error(_ failure: clogloop_failure, _ what: String) -> BenchmarkError {
        let call = failure.call.map { String(cString: $0) } ?? "unknown call"
        let reason = failure.error == 0 ? "" : ": \(String(cString: strerror(failure.error)))"
        return BenchmarkError("\(what) failed in \(call)\(reason)")
    }
}
