import EventSourcingCore

@testable import LogStore

/// A key table (`keys.idx`) holding W1's first `entryCount` keys, inserted as the writer inserts
/// them, with the hashes the lookup benchmarks ask for: `lookupCount` of stored keys, spread over
/// the table, and as many of keys never stored. `load()` builds it in a benchmark's setup hook,
/// `unload()` removes it in the teardown hook.
///
/// Thread-safety: none needed; the benchmark library runs setup, iterations and teardown one after
/// another.
final class KeyTableFixture {
    let entryCount: Int
    let lookupCount: Int

    /// The table, while it is loaded.
    private(set) var index: KeyIndex?
    /// Hashes of stored keys: every (entryCount / lookupCount)-th key.
    private(set) var presentHashes: [UInt64] = []
    /// Hashes of keys of the same stream that are not stored.
    private(set) var absentHashes: [UInt64] = []
    private let directory = ScratchDirectory()

    init(entryCount: Int, lookupCount: Int) {
        precondition(lookupCount >= 1 && lookupCount <= entryCount, "the present lookups are among the entries")
        self.entryCount = entryCount
        self.lookupCount = lookupCount
    }

    /// Builds the table and the lookups, and checks that the table answers them: each present hash
    /// finds its key's sequence id, no absent one finds anything.
    /// - Throws: `EventStoreError.io` when the table's file cannot be created or grown.
    func load() throws {
        try directory.create()
        guard let path = directory.path else { preconditionFailure("create() leaves a path") }
        let table = try KeyIndex.create(directory: path, fileMode: 0o644, io: SystemIO.shared)
        for batch in BenchmarkInputs.keyEntries(0..<entryCount, batchSize: 10_000) { try table.insert(batch) }
        let stride = entryCount / lookupCount
        let presentKeys = (0..<lookupCount).map { $0 * stride }
        presentHashes = presentKeys.map {
            StableHash.key(BenchmarkInputs.key($0), streamHash: BenchmarkInputs.streamHash)
        }
        absentHashes = (0..<lookupCount).map { StableHash.key("absent-\($0)", streamHash: BenchmarkInputs.streamHash) }
        precondition(
            table.firstCandidates(presentHashes) == presentKeys.map { Int64($0) + 1 },
            "every stored key is found, with its event's sequence id")
        // 56 of the 64 hash bits are stored: a false candidate among 10,000 absent keys in a table
        // of 1,000,000 has a chance near 10^-7, so one here means a broken table.
        precondition(table.firstCandidates(absentHashes).allSatisfy { $0 == 0 }, "no absent key has a candidate")
        index = table
    }

    /// Closes the table and removes its directory.
    func unload() {
        index = nil
        presentHashes = []
        absentHashes = []
        directory.remove()
    }
}
