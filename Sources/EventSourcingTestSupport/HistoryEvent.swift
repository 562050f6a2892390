import EventSourcingCore

/// One thing a writer reports about an operation, in the order it happened: an attempt goes out
/// before the store is called, an acknowledgement after it returned. A child process of the kill
/// harness sends them to its parent as lines (`line`, `init(line:)`).
package enum HistoryEvent: Sendable, Equatable {
    /// A write is about to be called, expecting `expected`.
    case attempt(operation: Int, expected: ExpectedVersion)
    /// The write returned this version.
    case acknowledged(operation: Int, version: Int64)
    /// A write to several streams is about to be called, expecting `expected` of its streams, in
    /// the order of the call.
    case unitAttempt(operation: Int, expected: [ExpectedVersion])
    /// The write to several streams returned these versions, in the order of the call.
    case unitAcknowledged(operation: Int, versions: [Int64])
    /// The write (of one stream or several) was refused with `concurrencyConflict`: it must have
    /// stored nothing.
    case rejected(operation: Int)
    /// The write threw another error: it may or may not be stored.
    case failed(operation: Int, message: String)
    /// A snapshot of `version`, whose events have `digest`, is about to be saved.
    case snapshotAttempt(operation: Int, version: Int64, digest: UInt64)
    /// The snapshot save returned.
    case snapshotAcknowledged(operation: Int)
    /// The store finished opening (recovery is over).
    case opened(headSequenceID: Int64)

    /// The operation of an attempt to write events (of one stream or several), else `nil`.
    package var attemptedWrite: Int? {
        switch self {
        case .attempt(let operation, _), .unitAttempt(let operation, _): return operation
        default: return nil
        }
    }

    /// The operation of an acknowledged write (of one stream or several), else `nil`.
    package var acknowledgedWrite: Int? {
        switch self {
        case .acknowledged(let operation, _), .unitAcknowledged(let operation, _): return operation
        default: return nil
        }
    }

    private static func text(of expected: ExpectedVersion) -> String {
        switch expected {
        case .any: return "any"
        case .noStream: return "none"
        case .streamExists: return "exists"
        case .exact(let version): return String(version)
        }
    }

    private static func expectedVersion(_ text: Substring) -> ExpectedVersion? {
        switch text {
        case "any": return .any
        case "none": return .noStream
        case "exists": return .streamExists
        default: return Int64(text).map { .exact($0) }
        }
    }

    /// One line of text, without its newline.
    package var line: String {
        switch self {
        case .attempt(let operation, let expected): return "A \(operation) \(Self.text(of: expected))"
        case .acknowledged(let operation, let version): return "K \(operation) \(version)"
        case .unitAttempt(let operation, let expected):
            return "U \(operation) " + expected.map(Self.text(of:)).joined(separator: ",")
        case .unitAcknowledged(let operation, let versions):
            return "M \(operation) " + versions.map(String.init).joined(separator: ",")
        case .rejected(let operation): return "R \(operation)"
        case .failed(let operation, let message):
            return "E \(operation) " + message.replacingOccurrences(of: "\n", with: " ")
        case .snapshotAttempt(let operation, let version, let digest): return "S \(operation) \(version) \(digest)"
        case .snapshotAcknowledged(let operation): return "Z \(operation)"
        case .opened(let head): return "O \(head)"
        }
    }

    /// Parses a line made by `line`; `nil` for anything else.
    package init?(line: String) {
        let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2 else { return nil }
        let number = Int(parts[1])
        switch (parts[0], parts.count) {
        case ("A", 3):
            guard let operation = number, let expected = Self.expectedVersion(Substring(parts[2])) else { return nil }
            self = .attempt(operation: operation, expected: expected)
        case ("K", 3):
            guard let operation = number, let version = Int64(parts[2]) else { return nil }
            self = .acknowledged(operation: operation, version: version)
        case ("U", 3):
            let expected = parts[2].split(separator: ",").compactMap(Self.expectedVersion)
            guard let operation = number, !expected.isEmpty,
                expected.count == parts[2].split(separator: ",", omittingEmptySubsequences: false).count
            else { return nil }
            self = .unitAttempt(operation: operation, expected: expected)
        case ("M", 3):
            let versions = parts[2].split(separator: ",").compactMap { Int64($0) }
            guard let operation = number,
                versions.count == parts[2].split(separator: ",", omittingEmptySubsequences: false).count
            else { return nil }
            self = .unitAcknowledged(operation: operation, versions: versions)
        case ("R", 2):
            guard let operation = number else { return nil }
            self = .rejected(operation: operation)
        case ("E", _):
            guard let operation = number else { return nil }
            self = .failed(operation: operation, message: parts.dropFirst(2).joined(separator: " "))
        case ("S", 4):
            guard let operation = number, let version = Int64(parts[2]), let digest = UInt64(parts[3]) else {
                return nil
            }
            self = .snapshotAttempt(operation: operation, version: version, digest: digest)
        case ("Z", 2):
            guard let operation = number else { return nil }
            self = .snapshotAcknowledged(operation: operation)
        case ("O", 2):
            guard let head = Int64(parts[1]) else { return nil }
            self = .opened(headSequenceID: head)
        default:
            return nil
        }
    }
}
