/// What a simulated power loss did: where it struck and what it dropped, tore or reordered.
package struct CrashRecord: Sendable, CustomStringConvertible {
    /// The operation it struck at (`fdatasync`, `rename`, ...), or `nil` when the harness cut the
    /// power between operations.
    package var operation: String?
    /// The kind of file that operation was on.
    package var fileKind: StoreFileKind?
    package var mode: PowerLossMode
    /// Unsynced sectors and directory changes dropped.
    package var droppedUnits = 0
    /// Unsynced sectors and directory changes kept.
    package var keptUnits = 0
    /// Sectors torn (part new bytes, part garbage).
    package var tornSectors = 0
    /// Units kept although an earlier unit of the same file was dropped.
    package var reorderedUnits = 0
    /// Unsynced writes to segment files when the power went (a group write not yet synced).
    package var unsyncedSegmentWrites = 0

    package var description: String {
        let at = operation.map { "at \($0)" + (fileKind.map { " on \($0.rawValue)" } ?? "") } ?? "between operations"
        return "power loss \(at) (\(mode.rawValue)): kept \(keptUnits), dropped \(droppedUnits), torn \(tornSectors), "
            + "reordered \(reorderedUnits)"
    }
}
