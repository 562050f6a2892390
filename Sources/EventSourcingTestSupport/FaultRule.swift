#if canImport(Glibc)
    import Glibc
#endif

/// An I/O error that `FaultInjectingIO` injects: which operations it hits, after how many of them
/// pass, with which errno, and whether it stays until cleared (a full disk) or fires once.
///
/// Thread-safety: a value type.
package struct FaultRule: Sendable, CustomStringConvertible {
    /// The operations a rule can hit.
    package enum Operation: String, Sendable, CaseIterable {
        /// `pwrite`.
        case write
        /// `fsync`, `fdatasync` and `msync`.
        case sync
        /// `posix_fallocate`.
        case allocate
        /// `rename`.
        case rename
        /// Every operation that changes something: open with create, write, sync, truncate,
        /// allocate, rename, unlink, mkdir ("fail after N operations").
        case any
    }

    package var operation: Operation
    /// The errno the operation fails with (`EIO`, `ENOSPC`).
    package var errorNumber: Int32
    /// How many matching operations pass before the rule fires.
    package var skip: Int
    /// Fires on every later matching operation until `FaultInjectingIO.clearFaults()`; otherwise once.
    package var isPersistent: Bool
    /// For writes: the write that fires writes only part of its bytes and reports that count; the
    /// next write to any file then fails with `errorNumber` (a disk that fills mid-write).
    package var isShortWrite: Bool
    /// Only operations on paths containing this text match (`nil`: every path).
    package var pathContains: String?

    package init(
        operation: Operation, errorNumber: Int32, skip: Int = 0, isPersistent: Bool = false, isShortWrite: Bool = false,
        pathContains: String? = nil
    ) {
        self.operation = operation
        self.errorNumber = errorNumber
        self.skip = skip
        self.isPersistent = isPersistent
        self.isShortWrite = isShortWrite
        self.pathContains = pathContains
    }

    /// The name under which the harness counts this kind of fault, for example `ENOSPC on write`.
    package var kindName: String {
        if isShortWrite { return "short write then \(Self.errorName(errorNumber))" }
        let what = operation == .any ? "fail after N operations" : "on \(operation.rawValue)"
        return "\(Self.errorName(errorNumber)) \(what)" + (isPersistent ? " (persistent)" : " (transient)")
    }

    package var description: String { "\(kindName) after \(skip)" + (pathContains.map { " on '*\($0)*'" } ?? "") }

    /// `EIO`, `ENOSPC`, or the number.
    package static func errorName(_ code: Int32) -> String {
        switch code {
        case EIO: return "EIO"
        case ENOSPC: return "ENOSPC"
        default: return "errno \(code)"
        }
    }
}
