import Synchronization

/// One spare object of a kind that is costly to allocate (a buffer-owning scratch object), kept for
/// the next user: `take()` hands it out, or nil when another user has it, and `put(_:)` gives one
/// back for later.
///
/// Used by `PayloadEncoder` and `PayloadDecoder`, which otherwise allocate their writer or tape and
/// its buffers for every event. A caller puts back only an object it holds the sole reference to
/// (`isKnownUniquelyReferenced`), so an object is never in use by two owners.
///
/// Thread-safety: thread-safe and lock-free; the slot is one atomic word. It is sound for a
/// non-`Sendable` `Object`: each object has one owner at a time, and the atomic exchange that
/// hands it over orders the old owner's writes before the new owner's reads.
@usableFromInline
final class SpareObject<Object: AnyObject>: Sendable {
    /// The retained spare object's address, or 0.
    @usableFromInline let slot = Atomic<UInt>(0)

    /// Creates an empty holder.
    @usableFromInline init() {}

    deinit {
        let bits = slot.load(ordering: .acquiring)
        if bits != 0 { Self.unmanaged(bits).release() }
    }

    /// The spare object, which the caller now owns, or nil when there is none.
    @inlinable
    func take() -> Object? {
        let bits = slot.exchange(0, ordering: .acquiringAndReleasing)
        guard bits != 0 else { return nil }
        return Self.unmanaged(bits).takeRetainedValue()
    }

    /// Keeps `object` as the spare, replacing (and releasing) any spare put back meanwhile.
    /// - Precondition: the caller holds the only reference to `object`.
    @inlinable
    func put(_ object: Object) {
        let bits = UInt(bitPattern: Unmanaged.passRetained(object).toOpaque())
        let previous = slot.exchange(bits, ordering: .acquiringAndReleasing)
        if previous != 0 { Self.unmanaged(previous).release() }
    }

    @inlinable
    static func unmanaged(_ bits: UInt) -> Unmanaged<Object> {
        Unmanaged.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)  // safe: bits != 0, an address passRetained gave
    }
}
