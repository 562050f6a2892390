import EventSourcingCore
import LogStore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A `FileIO` that sits under the log engine (through `LogEventStore.Options.io`), passes every
/// operation to the real files, and models what a power loss would leave of them.
///
/// For each file of one store directory (`root`) it keeps the bytes on stable storage as of the
/// file's last `fsync`/`fdatasync` and every change since; for the directory, the names as of its
/// last `fsync` and every create, rename and unlink since. Subdirectories of `root` (the log
/// store's `subscriptions/`) are modelled the same way: a `mkdir` is a name change of its parent,
/// and each subdirectory's names are durable as of its own last `fsync`. Stores through a shared mapping are
/// seen as 4 KiB pages when `msync` is called, and at a power loss any subset of the pages dirtied
/// since may have been written back (the kernel writes dirty pages whenever it likes).
///
/// On top of that model it can:
/// - cut the power at a chosen point (`CrashPlan`): before or after the n-th sync point (`fsync`,
///   `fdatasync`, `msync`, `rename`), or before the n-th operation of any kind. It then writes an
///   image of what survived (`PowerLossMode`) to a new directory, and every later operation that
///   changes something fails with `EIO`: the process is as good as dead.
/// - inject errors (`FaultRule`): `EIO` or `ENOSPC` on write, sync, allocate or rename, short
///   writes, and "fail after N operations", once or until `clearFaults()`.
///
/// A failed sync is modelled as Linux does it (by default): the kernel reports the error once and
/// marks the dirty pages clean, so the changes since the file's last sync stay visible to every
/// reader in this boot but never reach stable storage, and a later sync succeeds without them
/// (`SimulatedFile.dropPending`). `setFailedSyncKeepsPages(true)` models instead a disk that
/// reports the error and keeps what it had (the changes stay pending).
///
/// Paths outside `root` pass through untouched (a read-only open's private directory).
///
/// Thread-safety: every method may be called from any thread; the model is behind a mutex, held
/// across each real operation so that model and files change together.
package final class FaultInjectingIO: FileIO {
    /// The store directory whose files are modelled.
    package let root: String
    private let system = SystemIO.shared
    private let model: Mutex<Model>

    /// One directory change not yet made durable by an `fsync` of the directory. Names are
    /// relative to `root` (`subscriptions/a.sub`); a change belongs to the directory of its name.
    enum NameChange {
        case create(name: String, file: Int)
        case rename(from: String, to: String, file: Int)
        case unlink(name: String, file: Int)
        case makeDirectory(name: String)

        /// The directory whose `fsync` makes the change durable ("" for `root`).
        var directory: String {
            switch self {
            case .create(let name, _), .unlink(let name, _), .makeDirectory(let name): FaultInjectingIO.parent(of: name)
            case .rename(_, let to, _): FaultInjectingIO.parent(of: to)
            }
        }
    }

    /// The directory part of a name relative to `root` ("" for a name directly in it).
    static func parent(of name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return "" }
        return String(name[..<slash])
    }

    struct Model {
        let root: String
        var files: [Int: SimulatedFile] = [:]
        var nextFileID = 1
        /// Inode number → file, for the files this layer has seen.
        var inodes: [UInt64: Int] = [:]
        var names: [String: Int] = [:]
        var durableNames: [String: Int] = [:]
        var pendingNames: [NameChange] = []
        /// Subdirectories of `root` (relative names), as the OS shows them and as of the last
        /// `fsync` of their parent.
        var directories: Set<String> = []
        var durableDirectories: Set<String> = []
        /// Open descriptors of modelled files: descriptor → (file, name when opened).
        var descriptors: [Int32: (file: Int, name: String)] = [:]
        /// Open descriptors of `root` ("") and of its subdirectories.
        var directoryDescriptors: [Int32: String] = [:]
        var operationCount = 0
        var syncPointCount = 0
        /// `fsync`/`fdatasync` calls on segment files so far.
        var segmentSyncCount = 0
        var rules: [FaultRule] = []
        var skipsLeft: [Int] = []
        var armedWriteFailure: (code: Int32, isPersistent: Bool)?
        var crashPlan: CrashPlan?
        var crash: CrashRecord?
        var isDead = false
        var faultCounts: [String: Int] = [:]
        var isLyingAboutSyncs = false
        var failedSyncKeepsPages = false
        /// Changes dropped by failed syncs.
        var droppedBySyncFailures = 0
        /// Successful `fsync`/`fdatasync` calls by kind of file.
        var syncs: [StoreFileKind: Int] = [:]
        /// Successful `fsync`/`fdatasync` calls by file name (as the file was opened).
        var syncsByName: [String: Int] = [:]
        /// Per file name, in order: `true` for a sync that succeeded, `false` for one that failed
        /// and dropped the file's unsynced changes.
        var syncOutcomesByName: [String: [Bool]] = [:]
    }

    /// Models the files of `root`. Files already there count as durable, names and bytes.
    package init(root: String) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
        var model = Model(root: trimmed)
        let subdirectories = Self.subdirectories(in: trimmed)
        model.directories = Set(subdirectories)
        model.durableDirectories = model.directories
        let files =
            Self.names(in: trimmed)
            + subdirectories.flatMap { directory in
                Self.names(in: trimmed + "/" + directory).map { directory + "/" + $0 }
            }
        for name in files {
            let path = trimmed + "/" + name
            guard let (inode, bytes) = Self.readFile(path) else { continue }
            let id = model.nextFileID
            model.nextFileID += 1
            model.files[id] = SimulatedFile(durable: bytes)
            model.inodes[inode] = id
            model.names[name] = id
            model.durableNames[name] = id
        }
        self.model = Mutex(model)
    }

    // MARK: Control

    /// Adds an error to inject.
    package func addFault(_ rule: FaultRule) {
        model.withLock { model in
            model.rules.append(rule)
            model.skipsLeft.append(rule.skip)
        }
    }

    /// Removes every injected error (the disk has room again).
    package func clearFaults() {
        model.withLock { model in
            model.rules.removeAll()
            model.skipsLeft.removeAll()
            model.armedWriteFailure = nil
        }
    }

    /// Makes every sync report success without making anything durable: a disk that lies about
    /// its cache. Only for showing that the harnesses catch what such a disk loses.
    package func setLyingAboutSyncs(_ isLying: Bool) { model.withLock { $0.isLyingAboutSyncs = isLying } }

    /// Makes a failed sync keep its changes pending (a disk that reports an error and keeps what it
    /// had) instead of dropping them as Linux does.
    package func setFailedSyncKeepsPages(_ keeps: Bool) { model.withLock { $0.failedSyncKeepsPages = keeps } }

    /// Changes that failed syncs dropped so far (visible in the page cache, never durable).
    package var changesDroppedBySyncFailures: Int { model.withLock { $0.droppedBySyncFailures } }

    /// Sets where the power goes (counted over the operations seen so far, from the start).
    package func setCrashPlan(_ plan: CrashPlan?) { model.withLock { $0.crashPlan = plan } }

    /// Operations that changed something so far.
    package var operationCount: Int { model.withLock { $0.operationCount } }

    /// Sync points (`fsync`, `fdatasync`, `msync`, `rename`) so far.
    package var syncPointCount: Int { model.withLock { $0.syncPointCount } }

    /// `fsync`/`fdatasync` calls on segment files so far.
    package var segmentSyncCount: Int { model.withLock { $0.segmentSyncCount } }

    /// The power loss, once it happened.
    package var crashRecord: CrashRecord? { model.withLock { $0.crash } }

    /// Whether the power went (then every change fails with `EIO`).
    package var hasCrashed: Bool { model.withLock { $0.isDead } }

    /// Successful `fsync`/`fdatasync` calls on files of `kind` so far (a `.buffered` write is
    /// durable once a sync of its segment, or of a later one, followed it).
    package func synchronizedCount(of kind: StoreFileKind) -> Int { model.withLock { $0.syncs[kind, default: 0] } }

    /// Successful `fsync`/`fdatasync` calls on the file called `name` in the store's directory so
    /// far. A compaction syncs the sealed segments it rewrites: a `.buffered` write is durable once
    /// a sync of its own segment followed it.
    package func synchronizedCount(ofFileNamed name: String) -> Int {
        model.withLock { $0.syncsByName[name, default: 0] }
    }

    /// The `fsync`/`fdatasync` calls on the file called `name` so far that mattered to its unsynced
    /// changes, in order: `true` for one that succeeded (they are durable), `false` for one that
    /// failed and dropped them (a later sync that succeeds does not bring them back).
    package func syncOutcomes(ofFileNamed name: String) -> [Bool] {
        model.withLock { $0.syncOutcomesByName[name, default: []] }
    }

    /// How many errors were injected, by kind (`FaultRule.kindName`).
    package var faultCounts: [String: Int] { model.withLock { $0.faultCounts } }

    /// Cuts the power now: writes what survives, by `mode`, to `imageDirectory` and fails every
    /// later change with `EIO`. When the power already went, returns that crash.
    /// - Returns: what the power loss dropped, tore and reordered.
    @discardableResult
    package func simulatePowerLoss(into imageDirectory: String, mode: PowerLossMode, seed: UInt64) -> CrashRecord {
        model.withLock { model in
            // Already dead (a planned crash struck first): that image stands.
            if let crash = model.crash { return crash }
            return Self.crash(
                &model,
                plan: CrashPlan(point: .beforeOperation(-1), mode: mode, imageDirectory: imageDirectory, seed: seed),
                operation: nil, kind: nil)
        }
    }

    // MARK: FileIO

    package func open(_ path: String, flags: Int32, mode: mode_t) -> Int32 {
        switch locate(path) {
        case .outside:
            return system.open(path, flags: flags, mode: mode)
        case .root:
            let descriptor = system.open(path, flags: flags, mode: mode)
            let code = errno
            if descriptor >= 0 { model.withLock { $0.directoryDescriptors[descriptor] = "" } }
            errno = code
            return descriptor
        case .inside(let name) where Self.isDirectory(path):
            let descriptor = system.open(path, flags: flags, mode: mode)
            let code = errno
            if descriptor >= 0 {
                model.withLock { model in
                    model.directoryDescriptors[descriptor] = name
                    // A directory this layer never saw being made: it counts as durable.
                    if !model.directories.contains(name) {
                        model.directories.insert(name)
                        model.durableDirectories.insert(name)
                    }
                }
            }
            errno = code
            return descriptor
        case .inside(let name):
            return model.withLock { model -> Int32 in
                let creates = flags & O_CREAT != 0
                if creates,
                    let code = Self.refuse(
                        &model, operation: "open", kind: StoreFileKind(fileName: name), ruleOperation: nil, path: path)
                {
                    errno = code
                    return -1
                }
                let existed = Self.exists(path)
                let descriptor = system.open(path, flags: flags, mode: mode)
                let code = errno
                defer { errno = code }
                guard descriptor >= 0 else { return descriptor }
                if creates { model.operationCount += 1 }
                var status = stat()
                fstat(descriptor, &status)
                let inode = UInt64(status.st_ino)
                let id: Int
                if let known = model.inodes[inode], model.files[known] != nil {
                    id = known
                    if model.names[name] != known { model.names[name] = known }
                } else {
                    id = model.nextFileID
                    model.nextFileID += 1
                    model.inodes[inode] = id
                    if existed {
                        // A file this layer never saw being made: it counts as durable.
                        model.files[id] = SimulatedFile(
                            durable: Self.readDescriptor(descriptor) ?? Self.readFile(path)?.1 ?? [])
                        model.names[name] = id
                        model.durableNames[name] = id
                    } else {
                        model.files[id] = SimulatedFile(durable: [])
                        model.names[name] = id
                        model.pendingNames.append(.create(name: name, file: id))
                    }
                }
                if flags & O_TRUNC != 0 { model.files[id]!.record(.resize(0)) }
                model.descriptors[descriptor] = (id, name)
                return descriptor
            }
        }
    }

    package func close(_ descriptor: Int32) {
        model.withLock { model in
            model.directoryDescriptors.removeValue(forKey: descriptor)
            if let (id, _) = model.descriptors.removeValue(forKey: descriptor) { Self.forgetIfGone(&model, file: id) }
            system.close(descriptor)
        }
    }

    package func pread(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int, _ offset: Int) -> Int {
        system.pread(descriptor, buffer, count, offset)
    }

    package func pwrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int, _ offset: Int) -> Int {
        model.withLock { model -> Int in
            guard let (id, name) = model.descriptors[descriptor] else {
                return system.pwrite(descriptor, bytes, count, offset)
            }
            var wanted = count
            switch Self.decide(
                &model, operation: "pwrite", kind: StoreFileKind(fileName: name), rule: .write, path: name)
            {
            case .proceed:
                break
            case .fail(let code):
                errno = code
                return -1
            case .shortWrite(let code):
                guard count > 1 else {
                    errno = code
                    return -1
                }
                wanted = count / 2
            }
            model.operationCount += 1
            let written = system.pwrite(descriptor, bytes, wanted, offset)
            let code = errno
            if written > 0 {
                model.files[id]!.record(
                    .write(offset: offset, bytes: Array(UnsafeRawBufferPointer(start: bytes, count: written))))
            }
            errno = code
            return written
        }
    }

    /// Modelled as a write of zeros (what the range reads as afterwards), through `pwrite`, so
    /// faults, crash points and the power-loss model apply to it the same way.
    package func punchHole(_ descriptor: Int32, _ offset: Int, _ count: Int) -> Int32 {
        let zeros = [UInt8](repeating: 0, count: min(count, 1 << 20))
        var done = 0
        while done < count {
            let chunk = min(zeros.count, count - done)
            let written = zeros.withUnsafeBytes { pwrite(descriptor, $0.baseAddress!, chunk, offset + done) }
            guard written > 0 else { return -1 }
            done += written
        }
        return 0
    }

    package func fdatasync(_ descriptor: Int32) -> Int32 {
        synchronize(descriptor, call: "fdatasync") { system.fdatasync($0) }
    }

    package func fsync(_ descriptor: Int32) -> Int32 { synchronize(descriptor, call: "fsync") { system.fsync($0) } }

    package func msync(_ descriptor: Int32, _ address: UnsafeMutableRawPointer, _ count: Int) -> Int32 {
        synchronize(descriptor, call: "msync") { system.msync($0, address, count) }
    }

    package func ftruncate(_ descriptor: Int32, _ size: Int) -> Int32 {
        model.withLock { model -> Int32 in
            guard let (id, name) = model.descriptors[descriptor] else { return system.ftruncate(descriptor, size) }
            if let code = Self.refuse(
                &model, operation: "ftruncate", kind: StoreFileKind(fileName: name), ruleOperation: nil, path: name)
            {
                errno = code
                return -1
            }
            model.operationCount += 1
            let result = system.ftruncate(descriptor, size)
            let code = errno
            if result == 0 { model.files[id]!.record(.resize(size)) }
            errno = code
            return result
        }
    }

    package func fallocate(_ descriptor: Int32, _ size: Int) -> Int32 {
        model.withLock { model -> Int32 in
            guard let (id, name) = model.descriptors[descriptor] else { return system.fallocate(descriptor, size) }
            if let code = Self.refuse(
                &model, operation: "posix_fallocate", kind: StoreFileKind(fileName: name), ruleOperation: .allocate,
                path: name)
            {
                return code
            }
            model.operationCount += 1
            let result = system.fallocate(descriptor, size)
            if result == 0, size > model.files[id]!.visible.count { model.files[id]!.record(.resize(size)) }
            return result
        }
    }

    package func rename(_ from: String, _ to: String) -> Int32 {
        guard case .inside(let fromName) = locate(from), case .inside(let toName) = locate(to) else {
            return system.rename(from, to)
        }
        return model.withLock { model -> Int32 in
            let kind = StoreFileKind(fileName: toName)
            if let code = Self.refuse(
                &model, operation: "rename", kind: kind, ruleOperation: .rename, path: to, isSyncPoint: true)
            {
                errno = code
                return -1
            }
            model.operationCount += 1
            let result = system.rename(from, to)
            let code = errno
            if result == 0 {
                let id = model.names.removeValue(forKey: fromName) ?? Self.adopt(&model, path: to, name: toName)
                let replaced = model.names[toName]
                model.names[toName] = id
                model.pendingNames.append(.rename(from: fromName, to: toName, file: id))
                // Open descriptors of the file go by its new name (its kind follows the name).
                for (descriptor, entry) in model.descriptors where entry.file == id {
                    model.descriptors[descriptor] = (id, toName)
                }
                if let replaced, replaced != id { Self.forgetIfGone(&model, file: replaced) }
            }
            Self.afterSyncPoint(&model, operation: "rename", kind: kind)
            errno = code
            return result
        }
    }

    package func unlink(_ path: String) -> Int32 {
        guard case .inside(let name) = locate(path) else { return system.unlink(path) }
        return model.withLock { model -> Int32 in
            if let code = Self.refuse(
                &model, operation: "unlink", kind: StoreFileKind(fileName: name), ruleOperation: nil, path: path)
            {
                errno = code
                return -1
            }
            model.operationCount += 1
            let result = system.unlink(path)
            let code = errno
            if result == 0, let id = model.names.removeValue(forKey: name) {
                model.pendingNames.append(.unlink(name: name, file: id))
                Self.forgetIfGone(&model, file: id)
            }
            errno = code
            return result
        }
    }

    package func mkdir(_ path: String, _ mode: mode_t) -> Int32 {
        let location = locate(path)
        guard path == root || location != .outside else { return system.mkdir(path, mode) }
        return model.withLock { model -> Int32 in
            if let code = Self.refuse(&model, operation: "mkdir", kind: .directory, ruleOperation: nil, path: path) {
                errno = code
                return -1
            }
            model.operationCount += 1
            let result = system.mkdir(path, mode)
            let code = errno
            if result == 0, case .inside(let name) = location {
                model.directories.insert(name)
                model.pendingNames.append(.makeDirectory(name: name))
            }
            errno = code
            return result
        }
    }

    // MARK: Model

    private enum Location: Equatable {
        case root
        case inside(String)
        case outside
    }

    private func locate(_ path: String) -> Location {
        if path == root { return .root }
        guard path.hasPrefix(root + "/") else { return .outside }
        let name = String(path.dropFirst(root.count + 1))
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !name.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) else {
            return .outside
        }
        return .inside(name)
    }

    /// `fsync`, `fdatasync` or `msync` of a modelled file or of the directory: a sync point.
    private func synchronize(_ descriptor: Int32, call: String, _ body: (Int32) -> Int32) -> Int32 {
        model.withLock { model -> Int32 in
            let directory = model.directoryDescriptors[descriptor]
            let isRoot = directory != nil
            let tracked = model.descriptors[descriptor]
            guard isRoot || tracked != nil else { return body(descriptor) }
            let kind =
                directory.map { $0.isEmpty ? StoreFileKind.directory : StoreFileKind(fileName: $0) }
                ?? StoreFileKind(fileName: tracked!.name)
            if let code = Self.refuse(
                &model, operation: call, kind: kind, ruleOperation: .sync,
                path: tracked?.name ?? directory.flatMap { $0.isEmpty ? nil : $0 } ?? root,
                isSyncPoint: true)
            {
                if !model.isDead, !model.failedSyncKeepsPages, let (id, name) = tracked {
                    let current = call == "msync" ? Self.readDescriptor(descriptor) : nil
                    model.droppedBySyncFailures += model.files[id]!.dropPending(current: current)
                    if call != "msync" { model.syncOutcomesByName[name, default: []].append(false) }
                }
                errno = code
                return -1
            }
            model.operationCount += 1
            let result = body(descriptor)
            let code = errno
            if result == 0, !model.isLyingAboutSyncs {
                if let directory {
                    // The entries of this directory (not of its subdirectories) are durable now.
                    model.durableNames = model.durableNames.filter { Self.parent(of: $0.key) != directory }
                    for (name, id) in model.names where Self.parent(of: name) == directory {
                        model.durableNames[name] = id
                    }
                    model.durableDirectories = model.durableDirectories.filter { Self.parent(of: $0) != directory }
                        .union(model.directories.filter { Self.parent(of: $0) == directory })
                    model.pendingNames.removeAll { $0.directory == directory }
                } else if let (id, _) = tracked {
                    if call == "msync" {
                        model.files[id]!.recordMappedPages(
                            current: Self.readDescriptor(descriptor) ?? model.files[id]!.visible)
                    } else {
                        model.files[id]!.synchronize()
                        model.syncs[kind, default: 0] += 1
                        model.syncsByName[tracked!.name, default: 0] += 1
                        model.syncOutcomesByName[tracked!.name, default: []].append(true)
                    }
                }
            }
            Self.afterSyncPoint(&model, operation: call, kind: kind)
            errno = code
            return result
        }
    }

    /// What happens to an operation.
    private enum Decision {
        case proceed
        case fail(Int32)
        /// Write half of the bytes; the next write fails with this errno.
        case shortWrite(Int32)
    }

    /// Decides whether an operation may run: the power may go before it, the process may be dead,
    /// or an injected error may fire. Counts the operation as a sync point when it is one.
    private static func decide(
        _ model: inout Model, operation: String, kind: StoreFileKind, rule ruleOperation: FaultRule.Operation?,
        path: String,
        isSyncPoint: Bool = false
    ) -> Decision {
        let decision = decideUntraced(
            &model, operation: operation, kind: kind, rule: ruleOperation, path: path, isSyncPoint: isSyncPoint)
        if tracesOperations {
            let line = "IO \(operation) \(path) -> \(decision) [\(pthread_self())]\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        return decision
    }
    /// With `FUZZ_IO_TRACE` set, every operation and what the layer decided is printed to
    /// standard error with its thread: how a failing round's writes and syncs interleaved.
    private static let tracesOperations = getenv("FUZZ_IO_TRACE") != nil
    private static func decideUntraced(
        _ model: inout Model, operation: String, kind: StoreFileKind, rule ruleOperation: FaultRule.Operation?,
        path: String,
        isSyncPoint: Bool = false
    ) -> Decision {
        if model.isDead { return .fail(EIO) }
        if let plan = model.crashPlan {
            let strikes: Bool
            let isSegmentSync = isSyncPoint && kind == .segment && operation != "msync" && operation != "rename"
            switch plan.point {
            case .beforeOperation(let n): strikes = model.operationCount == n
            case .beforeSyncPoint(let n): strikes = isSyncPoint && model.syncPointCount == n
            case .afterSyncPoint: strikes = false
            case .beforeSegmentSync(let n): strikes = isSegmentSync && model.segmentSyncCount == n
            }
            if strikes {
                crash(&model, plan: plan, operation: operation, kind: kind)
                return .fail(EIO)
            }
        }
        if isSyncPoint { model.syncPointCount += 1 }
        if isSyncPoint && kind == .segment && operation != "msync" && operation != "rename" {
            model.segmentSyncCount += 1
        }
        if ruleOperation == .write, let armed = model.armedWriteFailure {
            // The disk filled during an earlier short write.
            if !armed.isPersistent { model.armedWriteFailure = nil }
            return .fail(armed.code)
        }
        guard let index = firingRule(&model, operation: ruleOperation, path: path) else { return .proceed }
        let rule = model.rules[index]
        if !rule.isPersistent { removeRule(&model, at: index) }
        model.faultCounts[rule.kindName, default: 0] += 1
        if rule.isShortWrite && ruleOperation == .write {
            model.armedWriteFailure = (rule.errorNumber, rule.isPersistent)
            return .shortWrite(rule.errorNumber)
        }
        return .fail(rule.errorNumber)
    }

    /// Runs `decide` for operations that either run or fail.
    private static func refuse(
        _ model: inout Model, operation: String, kind: StoreFileKind, ruleOperation: FaultRule.Operation?, path: String,
        isSyncPoint: Bool = false
    ) -> Int32? {
        switch decide(
            &model, operation: operation, kind: kind, rule: ruleOperation, path: path, isSyncPoint: isSyncPoint)
        {
        case .proceed: return nil
        case .fail(let code), .shortWrite(let code): return code
        }
    }

    /// The index of the first rule that fires for this operation (counting down the skips of
    /// every rule that matches).
    private static func firingRule(_ model: inout Model, operation: FaultRule.Operation?, path: String) -> Int? {
        var fired: Int?
        for index in model.rules.indices {
            let rule = model.rules[index]
            guard rule.operation == .any || rule.operation == operation, operation != nil || rule.operation == .any,
                rule.pathContains.map({ path.contains($0) }) ?? true
            else { continue }
            if model.skipsLeft[index] > 0 {
                model.skipsLeft[index] -= 1
                continue
            }
            if fired == nil { fired = index }
        }
        return fired
    }

    private static func removeRule(_ model: inout Model, at index: Int) {
        model.rules.remove(at: index)
        model.skipsLeft.remove(at: index)
    }

    /// Cuts the power after a sync point that the plan names.
    private static func afterSyncPoint(_ model: inout Model, operation: String, kind: StoreFileKind) {
        guard !model.isDead, let plan = model.crashPlan, case .afterSyncPoint(let n) = plan.point,
            model.syncPointCount - 1 == n
        else { return }
        crash(&model, plan: plan, operation: operation, kind: kind)
    }

    @discardableResult
    private static func crash(_ model: inout Model, plan: CrashPlan, operation: String?, kind: StoreFileKind?)
        -> CrashRecord
    {
        let root = model.root
        var record = CrashRecord(operation: operation, fileKind: kind, mode: plan.mode)
        writeImage(of: model, root: root, plan: plan, record: &record)
        model.isDead = true
        model.crashPlan = nil
        model.crash = record
        return record
    }

    /// A modelled file for a name this layer has not seen (made outside it): durable as it is.
    private static func adopt(_ model: inout Model, path: String, name: String) -> Int {
        let id = model.nextFileID
        model.nextFileID += 1
        let (inode, bytes) = readFile(path) ?? (0, [])
        if inode != 0 { model.inodes[inode] = id }
        model.files[id] = SimulatedFile(durable: bytes)
        model.durableNames[name] = id
        return id
    }

    /// Forgets the inode of a file with no name and no open descriptor: the number may be reused.
    private static func forgetIfGone(_ model: inout Model, file id: Int) {
        guard !model.names.values.contains(id), !model.descriptors.values.contains(where: { $0.file == id }) else {
            return
        }
        for (inode, known) in model.inodes where known == id { model.inodes.removeValue(forKey: inode) }
    }

    // MARK: Real files

    static func exists(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0
    }

    /// Whether `path` is a directory (not following a symbolic link).
    static func isDirectory(_ path: String) -> Bool {
        var status = stat()
        return lstat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
    }

    /// The names of the directories in `directory`, sorted.
    static func subdirectories(in directory: String) -> [String] { entries(in: directory, type: DT_DIR) }

    /// The names of the regular files in `directory`, sorted.
    static func names(in directory: String) -> [String] { entries(in: directory, type: DT_REG) }

    /// The names of the entries of `type` (`DT_DIR`, `DT_REG`) in `directory`, sorted.
    private static func entries(in directory: String, type: Int) -> [String] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." && entry.pointee.d_type == UInt8(type) { names.append(name) }
        }
        return names.sorted()
    }

    /// The inode number and bytes of a regular file, without following a symbolic link.
    static func readFile(_ path: String) -> (UInt64, [UInt8])? {
        let descriptor = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { Glibc.close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return (UInt64(status.st_ino), readDescriptor(descriptor) ?? [])
    }

    /// Every byte of an open file, read with `pread` (its offset is left alone); `nil` when it
    /// cannot be read (a write-only descriptor).
    static func readDescriptor(_ descriptor: Int32) -> [UInt8]? {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return nil }
        let size = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        var failed = false
        bytes.withUnsafeMutableBytes { buffer in
            while done < size {
                let got = Glibc.pread(descriptor, buffer.baseAddress! + done, size - done, off_t(done))
                if got < 0 && errno == EINTR { continue }
                if got < 0 { failed = true }
                if got <= 0 { break }
                done += got
            }
        }
        if failed { return nil }
        if done < size { bytes.removeLast(size - done) }
        return bytes
    }
}
