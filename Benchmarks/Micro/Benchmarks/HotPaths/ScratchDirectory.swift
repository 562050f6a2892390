import Foundation

/// A directory of its own under the system's temporary directory, for the index files a benchmark
/// creates: `create()` in the benchmark's setup hook, `remove()` (with everything in it) in its
/// teardown hook, so no run leaves files behind.
///
/// Thread-safety: none needed; the benchmark library runs setup, iterations and teardown one after
/// another.
final class ScratchDirectory {
    /// The directory, while it exists.
    private(set) var path: String?

    /// Creates a new, empty directory (removing the one created before, if any).
    /// - Throws: The error of `FileManager.createDirectory` (for example ENOSPC, EACCES).
    func create() throws {
        remove()
        let name = "eventlog-micro-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name, isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
        path = url.path
    }

    /// Removes the directory and everything in it. A directory that cannot be removed is left
    /// behind: a teardown has no one to report to, and the name says which process left it.
    func remove() {
        guard let path else { return }
        try? FileManager.default.removeItem(atPath: path)
        self.path = nil
    }
}
