import EventSourcingTestSupport
import Foundation
import Testing

/// The `bank-example` executable, run as a user would, so that the example never rots.
@Suite("bank-example") struct BankExampleTests {
    static let executable = URL(fileURLWithPath: eventlogPath).deletingLastPathComponent()
        .appendingPathComponent("bank-example").path

    /// Runs the example on `store` and returns its output lines.
    static func run(_ store: String, in directory: String) async throws -> [String] {
        let output = directory + "/output-\(UUID().uuidString).txt"
        let child = try ChildProcess(
            executable: executable, arguments: [store], stdin: .null, stdout: .file(output), stderr: .file(output))
        let termination = try await onOwnThread { child.wait(seconds: 120) }
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(termination == .exited(0), "bank-example: \(termination)\n\(text)")
        return text.split(separator: "\n").map(String.init)
    }

    @Test func transfersProjectsAndResumesItsLedger() async throws {
        let directory = try WorkDirectory()
        let store = directory.path + "/bank"
        let first = try await Self.run(store, in: directory.path)
        #expect(
            first == [
                "refused: bob has 50, not 1000", "alice: 70 at version 3", "bob: 50 at version 3",
                "ledger: resumed after 0, deposited 150, withdrawn 30, now at 6",
            ])
        // Again on the same store: accounts exist already, a new transfer, and the ledger carries on.
        let second = try await Self.run(store, in: directory.path)
        #expect(
            second == [
                "refused: bob has 80, not 1000", "alice: 40 at version 4", "bob: 80 at version 4",
                "ledger: resumed after 6, deposited 30, withdrawn 30, now at 8",
            ])
    }
}
