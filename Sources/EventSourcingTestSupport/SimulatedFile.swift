/// What `FaultInjectingIO` knows of one file (one inode, whatever its names): its bytes on stable
/// storage as of its last sync, the changes made since, in order, and the bytes the OS shows.
///
/// Thread-safety: a value type, kept under the layer's lock.
struct SimulatedFile {
    /// One change to a file that a sync makes durable.
    enum Change {
        case write(offset: Int, bytes: [UInt8])
        /// `ftruncate` or a growing `posix_fallocate`: the new size (a growth reads as zeros).
        case resize(Int)
    }

    /// The bytes as of the last `fsync`/`fdatasync`.
    private(set) var durable: [UInt8]
    /// The changes since then.
    private(set) var pending: [Change] = []
    /// `durable` with `pending` applied: what `pread` returns, except for stores through a shared
    /// mapping that no `msync` has reported yet.
    private(set) var visible: [UInt8]

    init(durable: [UInt8]) {
        self.durable = durable
        self.visible = durable
    }

    /// Records a change the OS has made visible.
    mutating func record(_ change: Change) {
        Self.apply(change, to: &visible)
        pending.append(change)
    }

    /// Records the pages of `current` (the file as the OS shows it, mapped stores included) that
    /// differ from `visible`: what an `msync` writes.
    /// - Returns: how many pages differed.
    @discardableResult
    mutating func recordMappedPages(current: [UInt8], pageBytes: Int = 4096) -> Int {
        var pages = 0
        for change in Self.pageDifferences(from: visible, to: current, pageBytes: pageBytes) {
            record(change)
            pages += 1
        }
        return pages
    }

    /// Everything recorded since the last sync reaches stable storage (a successful sync). Bytes
    /// the OS shows but a failed sync dropped (`dropPending`) are not among them: they never do.
    mutating func synchronize() {
        for change in pending { Self.apply(change, to: &durable) }
        pending.removeAll()
    }

    /// A failed sync, as Linux does it: the kernel reports the error and marks the dirty pages
    /// clean, so the changes since the last sync stay visible (the page cache keeps them) but never
    /// reach stable storage, and a later sync succeeds without them. `current` (for an `msync`) is
    /// what the mapping shows: its pages are taken as visible and dropped alike.
    /// - Returns: how many changes were dropped.
    @discardableResult
    mutating func dropPending(current: [UInt8]? = nil) -> Int {
        let dropped = pending.count
        if let current { visible = current }
        pending.removeAll()
        return dropped
    }

    /// Whether bytes the OS shows differ from what stable storage holds plus the pending changes:
    /// pages a failed sync dropped.
    var hasDroppedPages: Bool {
        var expected = durable
        for change in pending { Self.apply(change, to: &expected) }
        return expected != visible
    }

    /// The page-sized writes that turn `old` into `new` (sizes are equal for mapped files; a
    /// difference in size is one more change).
    static func pageDifferences(from old: [UInt8], to new: [UInt8], pageBytes: Int) -> [Change] {
        var changes: [Change] = []
        if new.count < old.count { changes.append(.resize(new.count)) }
        var offset = 0
        while offset < new.count {
            let end = min(offset + pageBytes, new.count)
            let differs: Bool
            if end > old.count {
                differs = true
            } else {
                differs = !old[offset..<end].elementsEqual(new[offset..<end])
            }
            if differs { changes.append(.write(offset: offset, bytes: Array(new[offset..<end]))) }
            offset = end
        }
        return changes
    }

    /// Applies a change to a file's bytes: a write past the end fills the gap with zeros.
    static func apply(_ change: Change, to bytes: inout [UInt8]) {
        switch change {
        case .write(let offset, let written):
            if offset + written.count > bytes.count {
                bytes.append(contentsOf: repeatElement(0, count: offset + written.count - bytes.count))
            }
            bytes.replaceSubrange(offset..<offset + written.count, with: written)
        case .resize(let size):
            if size < bytes.count {
                bytes.removeLast(bytes.count - size)
            } else if size > bytes.count {
                bytes.append(contentsOf: repeatElement(0, count: size - bytes.count))
            }
        }
    }
}
