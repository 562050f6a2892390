/// Where `FaultInjectingIO` cuts the power, counted over the operations it has seen.
package struct CrashPlan: Sendable, CustomStringConvertible {
    /// The point at which the power goes.
    package enum Point: Sendable, Equatable {
        /// Just before sync point number `n` (from 0): an `fsync`, `fdatasync`, `msync` or `rename`.
        case beforeSyncPoint(Int)
        /// Just after sync point number `n` completed.
        case afterSyncPoint(Int)
        /// Just before operation number `n` of any kind that changes something.
        case beforeOperation(Int)
        /// Just before the `fsync`/`fdatasync` number `n` (from 0) of a segment file: a group
        /// write (or a seal) is then in the page cache and not yet on stable storage.
        case beforeSegmentSync(Int)
    }

    package var point: Point
    package var mode: PowerLossMode
    /// Where the image of what survived is written (a directory that must not exist yet).
    package var imageDirectory: String
    /// Seeds the random choices of `mode`.
    package var seed: UInt64

    package init(point: Point, mode: PowerLossMode, imageDirectory: String, seed: UInt64) {
        self.point = point
        self.mode = mode
        self.imageDirectory = imageDirectory
        self.seed = seed
    }

    package var description: String { "\(point) \(mode.rawValue)" }
}
