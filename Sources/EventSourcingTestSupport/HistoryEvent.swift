import EventSourcingCore

/// One thing a writer reports about an operation, in the order it happened: an attempt goes out
/// before the store is called, an acknowledgement after it returned. A child process of the kill
/// harness sends them to its parent as lines (`line`, `init(line:)`).
package enum HistoryEvent: Sendable, Equatable {
    /// A write is about to be called, expecting `expected`.
    case attempt(operation: Int, expected: ExpectedVersion)
    /// The write returned this version.
    case acknowledged(operation: Int, version: Int64)
    /// The write was refused with `concurrencyConflict`: it must have stored nothing.
    case rejected(operation: Int)
    /// The write threw another error: it may or may not be stored.
    case failed(operation: Int, message: String)
    /// A snapshot of `version`, whose events have `digest`, is about to be saved.
    case snapshotAttempt(operation: Int, version: Int64, digest: UInt64)
    /// The snapshot save returned.
    case snapshotAcknowledged(operation: Int)
    /// The store finished opening (recovery is over).
    case opened(headSequenceID: Int64)

    /// One line of text, without its newline.
    package var line: String {
        switch self {
        case .attempt(let operation, let expected):
            let text: String
            switch expected {
            case .any: text = "any"
            case .noStream: text = "none"
            case .streamExists: text = "exists"
            case .exact(let version): text = String(version)
            }
            return "A \(operation) \(text)"
        case .acknowledged(let operation, let version): return "K \(operation) \(version)"
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
            guard let operation = number else { return nil }
            let expected: ExpectedVersion
            switch parts[2] {
            case "any": expected = .any
            case "none": expected = .noStream
            case "exists": expected = .streamExists
            default:
                guard let version = Int64(parts[2]) else { return nil }
                expected = .exact(version)
            }
            self = .attempt(operation: operation, expected: expected)
        case ("K", 3):
            guard let operation = number, let version = Int64(parts[2]) else { return nil }
            self = .acknowledged(operation: operation, version: version)
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
