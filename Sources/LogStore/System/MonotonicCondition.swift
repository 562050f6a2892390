#if canImport(Glibc)
    import Glibc
#endif

/// A mutex with a condition variable whose timed waits run on `CLOCK_MONOTONIC`, so a step of the
/// wall clock (an NTP correction) never stretches a wait; `NSCondition.wait(until:)` waits on the
/// wall clock.
///
/// Thread-safety: `@unchecked Sendable`; it is the lock, used as pthreads prescribe.
final class MonotonicCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func lock() { pthread_mutex_lock(mutex) }

    func unlock() { pthread_mutex_unlock(mutex) }

    /// Wakes one waiter (the caller holds the lock).
    func signal() { pthread_cond_signal(condition) }

    /// Waits until signalled (the caller holds the lock; wake-ups may be spurious).
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits until signalled or until `deadline` on `CLOCK_MONOTONIC` (see `now()`).
    /// - Returns: `false` once the deadline has passed.
    func wait(until deadline: UInt64) -> Bool {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &time) != ETIMEDOUT
    }

    /// Nanoseconds on `CLOCK_MONOTONIC`.
    static func now() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
