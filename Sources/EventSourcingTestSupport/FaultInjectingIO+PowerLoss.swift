#if canImport(Glibc)
    import Glibc
#endif

extension FaultInjectingIO {
    static let sectorBytes = 512

    /// One unit of unsynced change that survives a power loss or not: a sector of a write, a
    /// resize, or a page dirtied through a mapping (which has no order).
    private struct Unit {
        var change: SimulatedFile.Change
        var isUnordered: Bool
    }

    /// Writes what survives a power loss to `plan.imageDirectory`: the directory's durable names
    /// with some of the pending name changes, each file's durable bytes with some of its unsynced
    /// changes, as `plan.mode` says.
    static func writeImage(of model: Model, root: String, plan: CrashPlan, record: inout CrashRecord) {
        var random = SeededRandom(seed: plan.seed, stream: 0xC4A5)
        var names = model.durableNames
        var directories = model.durableDirectories
        let keptNames = choose(count: model.pendingNames.count, mode: plan.mode, random: &random, record: &record)
        for (index, change) in model.pendingNames.enumerated() where keptNames[index] {
            switch change {
            case .create(let name, let id):
                names[name] = id
            case .rename(let from, let to, let id):
                if names[from] == id { names.removeValue(forKey: from) }
                names[to] = id
            case .unlink(let name, let id):
                if names[name] == id { names.removeValue(forKey: name) }
            case .makeDirectory(let name):
                directories.insert(name)
            }
        }
        precondition(
            Glibc.mkdir(plan.imageDirectory, 0o755) == 0, "the image directory '\(plan.imageDirectory)' must be new")
        // A subdirectory whose own name did not survive in its parent is gone, with what it held.
        func survives(_ directory: String) -> Bool {
            directory.isEmpty || (directories.contains(directory) && survives(parent(of: directory)))
        }
        for directory in directories.sorted() where survives(directory) {
            precondition(Glibc.mkdir(plan.imageDirectory + "/" + directory, 0o755) == 0, "cannot make '\(directory)'")
        }
        var contents: [Int: [UInt8]] = [:]
        for (name, id) in names.sorted(by: { $0.key < $1.key }) where survives(parent(of: name)) {
            if contents[id] == nil {
                contents[id] = survivingBytes(
                    of: id, in: model, root: root, plan: plan, random: &random, record: &record)
            }
            writeFile(plan.imageDirectory + "/" + name, contents[id]!)
        }
    }

    /// The bytes of one file after the power loss.
    private static func survivingBytes(
        of id: Int, in model: Model, root: String, plan: CrashPlan, random: inout SeededRandom,
        record: inout CrashRecord
    ) -> [UInt8] {
        guard let file = model.files[id] else { return [] }
        if StoreFileKind(fileName: model.names.first(where: { $0.value == id })?.key ?? "") == .segment {
            record.unsyncedSegmentWrites += file.pending.count
        }
        var units = file.pending.flatMap { sectors(of: $0) }.map { Unit(change: $0, isUnordered: false) }
        // Pages stored through a shared mapping since the last msync: the kernel may have written any of them.
        let current = currentBytes(of: id, in: model, root: root) ?? file.visible
        for change in SimulatedFile.pageDifferences(from: file.visible, to: current, pageBytes: 4096) {
            units += sectors(of: change).map { Unit(change: $0, isUnordered: true) }
        }
        var bytes = file.durable
        guard !units.isEmpty else { return bytes }
        let ordered = units.filter { !$0.isUnordered }
        let unordered = units.filter(\.isUnordered)
        var kept = choose(count: ordered.count, mode: plan.mode, random: &random, record: &record)
        // Write-back of mapped pages is unordered whatever the mode, unless nothing or everything survives.
        let unorderedMode: PowerLossMode =
            plan.mode == .dropUnsynced || plan.mode == .keepAll ? plan.mode : .keepRandomSubset
        kept += choose(count: unordered.count, mode: unorderedMode, random: &random, record: &record)
        let all = ordered + unordered
        var tornAt: Int?
        if plan.mode == .keepPrefixTornSector, let firstDropped = kept.firstIndex(of: false),
            firstDropped < ordered.count,
            case .write = all[firstDropped].change
        {
            tornAt = firstDropped
        }
        for (index, unit) in all.enumerated() {
            if kept[index] {
                SimulatedFile.apply(unit.change, to: &bytes)
            } else if index == tornAt, case .write(let offset, let written) = unit.change {
                // A torn sector: the first part of the new bytes made it, then garbage.
                let cut = written.count > 1 ? random.int(1..<written.count) : 0
                SimulatedFile.apply(
                    .write(offset: offset, bytes: Array(written[0..<cut]) + random.bytes(written.count - cut)),
                    to: &bytes)
                record.tornSectors += 1
            }
        }
        return bytes
    }

    /// Which of `count` units in order survive.
    private static func choose(
        count: Int, mode: PowerLossMode, random: inout SeededRandom, record: inout CrashRecord
    ) -> [Bool] {
        guard count > 0 else { return [] }
        var kept: [Bool]
        switch mode {
        case .dropUnsynced:
            kept = Array(repeating: false, count: count)
        case .keepAll:
            kept = Array(repeating: true, count: count)
        case .keepPrefix, .keepPrefixTornSector:
            let prefix = random.int(0...count)
            kept = (0..<count).map { $0 < prefix }
        case .keepRandomSubset:
            kept = (0..<count).map { _ in random.chance(0.5) }
        }
        var sawDropped = false
        for isKept in kept {
            if isKept {
                record.keptUnits += 1
                if sawDropped { record.reorderedUnits += 1 }
            } else {
                record.droppedUnits += 1
                sawDropped = true
            }
        }
        return kept
    }

    /// A change split at sector boundaries of the file (a resize stays whole).
    private static func sectors(of change: SimulatedFile.Change) -> [SimulatedFile.Change] {
        guard case .write(let offset, let bytes) = change, !bytes.isEmpty else { return [change] }
        var pieces: [SimulatedFile.Change] = []
        var start = 0
        while start < bytes.count {
            let absolute = offset + start
            let end = min(bytes.count, start + (sectorBytes - absolute % sectorBytes))
            pieces.append(.write(offset: absolute, bytes: Array(bytes[start..<end])))
            start = end
        }
        return pieces
    }

    /// The bytes the OS shows now for a file, stores through a mapping included: read through an
    /// open descriptor (a mapping keeps one open) or by its name; `nil` when neither reaches it
    /// (a write-only descriptor of an unlinked file: then nothing but `pwrite` changed it).
    private static func currentBytes(of id: Int, in model: Model, root: String) -> [UInt8]? {
        for (descriptor, entry) in model.descriptors where entry.file == id {
            if let bytes = readDescriptor(descriptor) { return bytes }
        }
        guard let name = model.names.first(where: { $0.value == id })?.key else { return nil }
        return readFile(root + "/" + name)?.1
    }

    /// Creates `path` with `bytes` (mode 0644).
    static func writeFile(_ path: String, _ bytes: [UInt8]) {
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(descriptor >= 0, "cannot create '\(path)': errno \(errno)")
        defer { Glibc.close(descriptor) }
        var done = 0
        bytes.withUnsafeBytes { buffer in
            while done < bytes.count {
                let wrote = Glibc.write(descriptor, buffer.baseAddress! + done, bytes.count - done)
                precondition(wrote > 0 || errno == EINTR, "cannot write '\(path)': errno \(errno)")
                if wrote > 0 { done += wrote }
            }
        }
    }
}
