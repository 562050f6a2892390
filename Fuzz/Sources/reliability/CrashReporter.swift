#if canImport(Glibc)
    import Glibc
#endif

/// Prints the reproduction command of the round in progress when the process dies of a signal (a
/// trap in the engine or the harness), then hands the signal on (Swift's backtrace follows).
/// The line is kept in memory that the handler reads without allocating.
enum CrashReporter {
    private static let capacity = 2048
    // safe: written by the harness's one round loop between rounds, read only by the signal handler.
    nonisolated(unsafe) private static let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: capacity)
    nonisolated(unsafe) private static var length = 0
    nonisolated(unsafe) private static var previous = [Glibc.sigaction](repeating: Glibc.sigaction(), count: 32)
    private static let signals = [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE]

    /// Sets the line printed if the process crashes from now on.
    static func set(_ line: String) {
        let bytes = Array(("\n" + line + "\n").utf8.prefix(capacity))
        length = 0
        for (index, byte) in bytes.enumerated() { buffer[index] = CChar(bitPattern: byte) }
        length = bytes.count
    }

    /// Installs the handler for the signals a crash raises.
    static func install() {
        for signal in signals {
            var action = Glibc.sigaction()
            action.__sigaction_handler = .init(sa_sigaction: handle)
            action.sa_flags = SA_SIGINFO | SA_ONSTACK
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, &previous[Int(signal)])
        }
    }

    private static let handle:
        @convention(c) (Int32, UnsafeMutablePointer<siginfo_t>?, UnsafeMutableRawPointer?) -> Void = {
            signal, info, context in
            _ = write(2, CrashReporter.buffer, CrashReporter.length)
            var old = CrashReporter.previous[Int(signal)]
            sigaction(signal, &old, nil)
            if old.sa_flags & SA_SIGINFO != 0, let chained = old.__sigaction_handler.sa_sigaction {
                chained(signal, info, context)
            } else {
                raise(signal)
            }
        }
}
