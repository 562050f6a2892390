import EventSourcingTestSupport
import Foundation
import Testing

/// The tests' children start with `posix_spawn` (`ChildProcess`), not Foundation's `Process`,
/// whose `run()` on Linux reads past `readdir`'s buffer while it lists `/proc/self/fd`: with 1,400
/// descriptors open and four threads starting children, it crashed within a few hundred starts
/// (and crashed the suite in CI).
@Suite("Child processes") struct ChildProcessTests {
    @Test func childrenStartWhileTheProcessHoldsManyDescriptors() async throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        try #require(limit.rlim_max >= 2000, "the descriptor limit (\(limit.rlim_max)) is too low for this test")
        if limit.rlim_cur < 2000 {
            limit.rlim_cur = 2000
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        let held = (0..<1400).map { _ in open("/dev/null", O_RDONLY) }
        defer { for descriptor in held where descriptor >= 0 { close(descriptor) } }
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await withCheckedThrowingContinuation { done in
                        Thread {
                            done.resume(
                                with: Result {
                                    var failures = 0
                                    for index in 0..<100 {
                                        let child = try ChildProcess(
                                            executable: "/bin/sh",
                                            arguments: ["-c", "echo \(index); ls /proc/self/fd | wc -l"],
                                            stdin: .null, stderr: .null)
                                        let printed = String(
                                            decoding: ChildProcess.readToEnd(child.output!), as: UTF8.self)
                                        let lines = printed.split(separator: "\n")
                                        // The child inherits only stdin, stdout and stderr (and `ls` its own directory).
                                        if child.wait() != .exited(0) || lines.first != "\(index)"
                                            || (Int(lines.last ?? "") ?? 99) > 4
                                        {
                                            failures += 1
                                        }
                                    }
                                    return failures
                                })
                        }.start()
                    }
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(failures == 0)
    }
}
