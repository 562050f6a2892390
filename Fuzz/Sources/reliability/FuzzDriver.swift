#if canImport(Glibc)
    import Glibc
#endif

/// libFuzzer's entry for running its driver from our own `main` (the `reliability` binary also
/// holds the harnesses, so libFuzzer's `main` is not used).
@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// Runs a fuzz target under libFuzzer.
enum FuzzDriver {
    // safe: set once before libFuzzer starts, read by libFuzzer's one fuzzing thread.
    nonisolated(unsafe) static var target: (@Sendable (UnsafeRawBufferPointer) -> Void)?

    /// Runs `name` with libFuzzer's `arguments` (options and corpus directories).
    /// - Returns: libFuzzer's exit status (it exits by itself on a crash or at the end of its budget).
    static func run(target name: String, arguments: [String]) -> Int32 {
        guard let chosen = FuzzTargets.all[name] else {
            print("no fuzz target '\(name)'; targets: \(FuzzTargets.all.keys.sorted().joined(separator: ", "))")
            return 2
        }
        target = chosen
        var argv = ([CommandLine.arguments[0]] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var argc = Int32(argv.count - 1)
        return argv.withUnsafeMutableBufferPointer { buffer in
            var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
            return LLVMFuzzerRunDriver(&argc, &pointer) { data, size in
                FuzzDriver.target?(UnsafeRawBufferPointer(start: data, count: size))
                return 0
            }
        }
    }
}

/// The symbol libFuzzer's own `main` would call; present so the binary links, and used by it
/// only if that `main` ever runs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzDriver.target?(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
