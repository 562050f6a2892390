import EventSourcingTestSupport
import Foundation
import Testing

/// README.md's quick start: the code on the page is `Sources/quick-start/main.swift`, which builds
/// with the package, and runs.
@Suite("README quick start") struct QuickStartTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func theReadmeShowsTheQuickStartThatBuildsAndItRuns() async throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(
            contentsOf: Self.root.appendingPathComponent("Sources/quick-start/main.swift"), encoding: .utf8)
        let marker = "Then (this is `Sources/quick-start/main.swift`"
        let after = try #require(readme.range(of: marker), "README.md has no quick start block").upperBound
        let blockStart = try #require(readme.range(of: "```swift\n", range: after..<readme.endIndex)).upperBound
        let blockEnd = try #require(readme.range(of: "```\n", range: blockStart..<readme.endIndex)).lowerBound
        #expect(String(readme[blockStart..<blockEnd]) == source, "README.md's quick start and Sources/quick-start/main.swift differ")

        let directory = try WorkDirectory()
        let output = directory.path + "/output.txt"
        let executable = URL(fileURLWithPath: eventlogPath).deletingLastPathComponent()
            .appendingPathComponent("quick-start").path
        let child = try ChildProcess(
            executable: executable, arguments: [], directory: directory.path, stdin: .null, stdout: .file(output),
            stderr: .file(output))
        let termination = try await onOwnThread { child.wait(seconds: 120) }
        let text = try String(contentsOfFile: output, encoding: .utf8)
        #expect(termination == .exited(0), "quick-start: \(termination)\n\(text)")
        #expect(text.hasPrefix("1 Placed\n2 Paid\n"), "quick-start printed:\n\(text)")
    }
}
