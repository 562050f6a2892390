import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The machine a run measured: read from nproc, /proc and df, so the report says where its
/// figures come from.
struct MachineInfo: Sendable {
    var cpuModel: String
    var cores: String
    var memory: String
    var disk: String
    var operatingSystem: String
    var kernel: String
    var swiftVersion: String
    /// The commit of the code measured (`git rev-parse`), noting uncommitted changes under Sources/.
    var sourceRevision: String

    static func current(scratchDirectory: String) -> MachineInfo {
        let cpuModel = firstValue(in: "/proc/cpuinfo", key: "model name") ?? "unknown"
        let cores = run("nproc", []) ?? String(ProcessInfo.processInfo.activeProcessorCount)
        var memory = "unknown"
        if let total = firstValue(in: "/proc/meminfo", key: "MemTotal"),
            let kilobytes = Double(total.split(separator: " ").first ?? "")
        {
            memory = Format.fixed(kilobytes / 1024 / 1024, 1) + " GiB"
        }
        var disk = "unknown"
        if let output = run("df", ["-h", "--output=source,fstype,size,avail", scratchDirectory]) {
            let lines = output.split(separator: "\n")
            if lines.count >= 2 {
                let fields = lines[1].split(separator: " ")
                if fields.count >= 4 {
                    disk =
                        "\(fields[0]) (\(fields[1])), \(fields[2]) total, \(fields[3]) free, holding \(scratchDirectory)"
                }
            }
        }
        var operatingSystem = "unknown"
        if let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) {
            for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
                operatingSystem = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\""))
            }
        }
        var name = utsname()
        uname(&name)
        let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let swiftVersion = run("swift", ["--version"])?.split(separator: "\n").first.map(String.init) ?? "unknown"
        var sourceRevision = "unknown (not run from a git checkout)"
        if let commit = run("git", ["rev-parse", "--short", "HEAD"]) {
            let changes = run("git", ["status", "--porcelain", "--", "Sources", "Package.swift"]) ?? ""
            sourceRevision = commit + (changes.isEmpty ? "" : " with uncommitted changes under Sources/")
        }
        return MachineInfo(
            cpuModel: cpuModel, cores: cores, memory: memory, disk: disk, operatingSystem: operatingSystem,
            kernel: kernel, swiftVersion: swiftVersion, sourceRevision: sourceRevision)
    }

    private static func firstValue(in path: String, key: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == key {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// Runs a command found on PATH and returns its standard output, trimmed; nil on failure.
    private static func run(_ command: String, _ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [command] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
