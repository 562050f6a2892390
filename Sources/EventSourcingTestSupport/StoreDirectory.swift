import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Directory chores of the harnesses: a work directory, copies of stores, removal.
package enum StoreDirectory {
    /// A directory for harness stores: `$FUZZ_WORK_DIR`, else a fresh one under /dev/shm (memory,
    /// where syncs are free) when it has room, else under the temporary directory.
    package static func work(named name: String) throws -> String {
        let base: String
        if let configured = ProcessInfo.processInfo.environment["FUZZ_WORK_DIR"], !configured.isEmpty {
            base = configured
        } else if access("/dev/shm", W_OK) == 0, freeBytes("/dev/shm") > 2 << 30 {
            base = "/dev/shm"
        } else {
            base = FileManager.default.temporaryDirectory.path
        }
        let path = base + "/\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Free bytes on the file system holding `path`.
    package static func freeBytes(_ path: String) -> Int {
        var status = statvfs()
        guard statvfs(path, &status) == 0 else { return 0 }
        return Int(status.f_bavail) * Int(status.f_frsize)
    }

    /// Copies the regular files of `source`, and of its subdirectories (a log store's
    /// `subscriptions/`), into a new directory `target`.
    package static func copy(_ source: String, to target: String) throws {
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        for name in FaultInjectingIO.names(in: source) {
            guard let (_, bytes) = FaultInjectingIO.readFile(source + "/" + name) else { continue }
            FaultInjectingIO.writeFile(target + "/" + name, bytes)
        }
        for directory in FaultInjectingIO.subdirectories(in: source) {
            try copy(source + "/" + directory, to: target + "/" + directory)
        }
    }

    /// Removes `path` and everything in it; a missing path is fine.
    package static func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The names of the regular files in `path`, sorted.
    package static func files(in path: String) -> [String] { FaultInjectingIO.names(in: path) }

    /// The bytes of a regular file, or `nil`.
    package static func read(_ path: String) -> [UInt8]? { FaultInjectingIO.readFile(path)?.1 }

    /// Replaces the file at `path` with `bytes`.
    package static func write(_ path: String, _ bytes: [UInt8]) { FaultInjectingIO.writeFile(path, bytes) }
}
