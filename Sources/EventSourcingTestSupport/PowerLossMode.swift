/// How much of what was not yet synced survives a simulated power loss (RELIABILITY.md, fault 2).
/// Unsynced file contents are considered in 512-byte sectors, in the order they were written;
/// pages of memory-mapped files dirtied since their last `msync` may be written back in any subset.
package enum PowerLossMode: String, Sendable, CaseIterable {
    /// Nothing written since each file's last sync survives, nor any directory change since the
    /// directory's last sync.
    case dropUnsynced
    /// Everything the OS had survives (what a process kill leaves).
    case keepAll
    /// A random prefix of the unsynced sectors (and directory changes) survives, in write order.
    case keepPrefix
    /// A random prefix survives, and the next sector is torn: part new bytes, then garbage.
    case keepPrefixTornSector
    /// A random subset survives: a later write can be kept without an earlier one.
    case keepRandomSubset
}
