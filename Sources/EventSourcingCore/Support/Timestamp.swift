import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Timestamps as whole microseconds since the Unix epoch, the precision every store keeps.
package enum Timestamp {
    /// The current time, truncated to microseconds.
    package static func nowMicroseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1_000
    }

    /// The date of `microseconds` since the epoch.
    package static func date(microseconds: Int64) -> Date {
        Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }

    /// `date` in whole microseconds since the epoch (rounded to the nearest).
    package static func microseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }
}
