import EventSourcingCore
import Foundation

/// `eventlog verify` for a log store: reads every checksum and checks every index file against the
/// log, without modifying anything (it works beside a running writer). Each problem is one line:
/// the file, the byte offset, and what is wrong.
package enum LogVerifier {
    /// The problems found in the store at `directory`; empty when it is sound. `progress` is told
    /// (segments checked, segments) after each segment.
    package static func verify(
        directory: String, progress: (@Sendable (_ done: Int64, _ total: Int64) -> Void)? = nil
    ) async throws -> [String] {
        try await DedicatedThread.run(name: "eventlog-verify") { try verifyNow(directory: directory, progress: progress) }
    }

    private static let io: any FileIO = SystemIO.shared

    private static func verifyNow(
        directory: String, progress: (@Sendable (Int64, Int64) -> Void)?
    ) throws -> [String] {
        guard Directory.exists(directory) else { throw EventStoreError.io("no store at '\(directory)'") }
        var problems = checkSegments(directory: directory, progress: progress)
        guard problems.isEmpty else { return problems }
        // The reference: every index rebuilt from the log alone, privately.
        let options = LogEventStore.Options(readOnly: true)
        let (reference, context) = try LogRecovery.open(
            directory: directory, options: options, usingStoreIndexes: false)
        defer { try? context.close() }
        problems += checkIndexes(directory: directory, reference: reference)
        for name in try Directory.names(in: directory).sorted()
        where name.hasPrefix("snapshot-") && name.hasSuffix(".snap") {
            let path = directory + "/" + name
            do {
                guard let file = try SystemFile.openIfExists(path, io: io) else { continue }
                _ = try SnapshotFile.decode(try file.readAll(), path: path)
            } catch {
                problems.append(line(error))
            }
        }
        do {
            let table = try LifecycleFile.load(directory: directory, io: io)
            if reference.removed.firstKeptSequenceID > table.floor {
                problems.append(
                    "'\(RemovedSegments.path(directory))': segments up to sequence id "
                        + "\(reference.removed.firstKeptSequenceID - 1) were removed, but the store's floor is \(table.floor)")
            }
        } catch {
            problems.append(line(error))
        }
        if Directory.fileExists(CompactionJournal.path(directory)) {
            problems.append(
                "'\(CompactionJournal.path(directory))': a compaction was interrupted; the next writable open finishes it")
        }
        let subscriptions = directory + "/" + LogSubscriptions.directoryName
        if Directory.exists(subscriptions) {
            for name in try Directory.names(in: subscriptions).sorted() where name.hasSuffix(SubscriptionFile.suffix) {
                let path = subscriptions + "/" + name
                do {
                    guard let file = try SystemFile.openIfExists(path, io: io) else { continue }
                    _ = try SubscriptionFile.decode(try file.readAll(), path: path)
                } catch {
                    problems.append(line(error))
                }
            }
        }
        return problems
    }

    private static func line(_ error: Error) -> String {
        if case .corruption(let message) = error as? EventStoreError { return message }
        return "\(error)"
    }

    /// Every segment: header, footer checksum or frame checksums, sequence ids running on.
    private static func checkSegments(directory: String, progress: (@Sendable (Int64, Int64) -> Void)?) -> [String] {
        var problems: [String] = []
        do {
            // Segments the store's retention removed are not checked (a file a crash left below the
            // first kept one is unlinked by the next writable open).
            let removed = try RemovedSegments.load(directory: directory, io: io)
            let ordinals = try Directory.names(in: directory).compactMap(Segment.ordinal(fromFileName:)).sorted()
                .filter { $0 >= removed.firstKeptOrdinal }
            guard !ordinals.isEmpty else { return ["'\(directory)' offset 0: no segment files"] }
            var expectedFirst = removed.firstKeptSequenceID
            let checkpoint = try? Checkpoint.load(directory: directory, io: io)
            let first = removed.firstKeptOrdinal
            for ordinal in first...ordinals.last! {
                progress?(Int64(ordinal - first), Int64(ordinals.last! - first + 1))
                let path = directory + "/" + Segment.fileName(ordinal: ordinal)
                guard ordinals.contains(ordinal) else {
                    problems.append("'\(path)' offset 0: the segment is missing")
                    continue
                }
                do {
                    let segment = try Segment.open(
                        path: path, ordinal: ordinal, segmentBytesMax: 1 << 26, writable: false, io: io)
                    if segment.firstSequenceID != expectedFirst {
                        problems.append(
                            "'\(path)' offset 24: starts at sequence id \(segment.firstSequenceID), expected \(expectedFirst)"
                        )
                    }
                    let size = try segment.fileSize()
                    try segment.noteFileSize(size)
                    let footer = segment.footer(at: size - Segment.footerBytes, fileSize: size)
                    let end = footer == nil ? size : size - Segment.footerBytes
                    var cursor = FrameCursor(segment: segment, end: end, nextSequenceID: segment.firstSequenceID)
                    var reason = ""
                    segment.withBytes(offset: 0, count: end) { bytes in
                        while let why = cursor.skipFrames(bytes) {
                            // A frame that does not follow the one before is reported, and the walk
                            // goes on from it as it stands.
                            if why.hasPrefix("batch starts at sequence id"),
                                case .frame(let header) = BatchFrame.probe(
                                    UnsafeRawBufferPointer(rebasing: bytes[0..<end]), at: cursor.offset)
                            {
                                problems.append("'\(path)' offset \(cursor.offset): \(why)")
                                cursor = FrameCursor(
                                    segment: segment, from: cursor.offset, end: end,
                                    nextSequenceID: header.firstSequenceID)
                                continue
                            }
                            reason = why
                            return
                        }
                    }
                    let offset = cursor.offset
                    var next = cursor.nextSequenceID
                    var damaged = false
                    if offset < end || !cursor.isWhole {
                        // A torn write at the very end of the last segment is an unacknowledged write
                        // in progress (or one the next open cuts), not damage; recovery's rule decides.
                        let isTail = ordinal == ordinals.last! && footer == nil
                        let at = cursor.whole.offset
                        let problem =
                            isTail
                            ? LogRecovery.unexplainedDamage(
                                in: segment, at: at, reason: reason.isEmpty ? "a torn write" : reason, size: size,
                                checkpoint: checkpoint, mayCutUnsyncedWrites: false
                            ).problem : "'\(path)' offset \(offset): damaged batch (\(reason))"
                        if let problem {
                            problems.append(problem)
                            damaged = true
                        }
                    }
                    if let footer {
                        let checksum = segment.withBytes(offset: 0, count: end) { Checksum.crc32c($0) }
                        if checksum != footer.bodyChecksum, offset == end {
                            problems.append("'\(path)' offset \(end): footer checksum does not match the segment")
                        }
                        if !damaged, footer.lastSequenceID != next - 1 {
                            problems.append(
                                "'\(path)' offset \(end): footer says last sequence id \(footer.lastSequenceID), frames end at \(next - 1)"
                            )
                        }
                        // After damage, the footer says where the next segment should go on.
                        if damaged { next = footer.lastSequenceID + 1 }
                    } else if ordinal != ordinals.last! {
                        problems.append(
                            "'\(path)' offset \(size): the segment has no footer, but a later segment follows")
                    }
                    expectedFirst = next
                } catch {
                    problems.append(line(error))
                }
            }
        } catch {
            problems.append(line(error))
        }
        return problems
    }

    /// The store's index files against indexes rebuilt from the log.
    private static func checkIndexes(directory: String, reference: LogState) -> [String] {
        var problems: [String] = []
        let checkpointPath = Checkpoint.path(directory)
        guard let checkpoint = try? Checkpoint.load(directory: directory, io: io) else {
            return ["'\(checkpointPath)' offset 0: no valid checkpoint slot"]
        }
        let batchesPath = directory + "/batches.idx"
        if let batches = try? BatchIndex.open(path: batchesPath, count: checkpoint.batchCount, writable: false, io: io)
        {
            if (try? batches.checksum()) != checkpoint.batchChecksum {
                problems.append(
                    "'\(batchesPath)' offset \(IndexFile.headerBytes): entries do not match the checkpoint's checksum")
            }
            // The store's index may still hold entries of removed segments (the reference starts
            // after them).
            var skipped = 0
            while skipped < batches.count, reference.removed.isRemoved(batches.entry(at: skipped).position) {
                skipped += 1
            }
            for index in skipped..<max(skipped, min(batches.count, reference.batches.count + skipped))
            where batches.entry(at: index) != reference.batches.entry(at: index - skipped) {
                problems.append(
                    "'\(batchesPath)' offset \(IndexFile.headerBytes + index * BatchIndex.entryBytes): entry differs from the log"
                )
                break
            }
            if batches.count - skipped > reference.batches.count {
                problems.append(
                    "'\(batchesPath)' offset \(IndexFile.headerBytes): \(batches.count) entries, the log has \(reference.batches.count) batches"
                )
            }
        } else {
            problems.append(
                "'\(batchesPath)' offset 0: missing, or shorter than the checkpoint's \(checkpoint.batchCount) entries")
        }
        if checkpoint.isClean {
            let tablePath = StreamIndex.tablePath(directory)
            if let streams = try? StreamIndex.open(
                directory: directory, count: checkpoint.streamCount, capacity: checkpoint.streamCapacity,
                blocksUsed: checkpoint.blocksUsed, writable: false, fileMode: 0o644, io: io)
            {
                if (try? streams.checksum()) != checkpoint.streamChecksum {
                    problems.append(
                        "'\(tablePath)' offset \(IndexFile.headerBytes): the stream index does not match the checkpoint's checksum"
                    )
                } else if streams.count != reference.streams.count {
                    problems.append(
                        "'\(tablePath)' offset \(IndexFile.headerBytes): \(streams.count) streams, the log has \(reference.streams.count)"
                    )
                }
            } else {
                problems.append("'\(tablePath)' offset 0: missing or shorter than the checkpoint says")
            }
        }
        // The checkpoint describes keys.idx, or keys.idx.grown when a crash came between it and the rename.
        let keyFiles = KeyIndex.candidatePaths(directory).compactMap { filePath in
            (try? KeyIndex.open(
                filePath: filePath, directory: directory, count: checkpoint.keyCount, capacity: checkpoint.keyCapacity,
                writable: false, fileMode: 0o644, io: io)).flatMap { $0 }.map { (filePath, $0) }
        }
        let keysPath = keyFiles.first?.0 ?? KeyIndex.path(directory)
        if let keys = keyFiles.first?.1 {
            if (try? keys.checksum(upTo: checkpoint.headSequenceID)) != checkpoint.keyChecksum {
                problems.append(
                    "'\(keysPath)' offset \(IndexFile.headerBytes): the key index does not match the checkpoint's checksum"
                )
            }
        } else {
            problems.append("'\(keysPath)' offset 0: missing, or not the size the checkpoint says")
        }
        return problems
    }
}
