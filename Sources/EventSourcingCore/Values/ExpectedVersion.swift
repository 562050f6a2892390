/// The version a write expects its stream to be at. An integer literal means `.exact`.
///
/// Thread-safety: a value type; safe to share between tasks.
public enum ExpectedVersion: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// No check.
    case any
    /// The stream has no events (the same as `.exact(0)`).
    case noStream
    /// The stream has at least one event.
    case streamExists
    /// The stream is at exactly this version.
    case exact(Int64)

    /// `.exact(value)`, so that `expectedVersion: 3` reads as `.exact(3)`.
    public init(integerLiteral value: Int64) { self = .exact(value) }

    /// Whether a stream at `actual` satisfies this expectation.
    public func isSatisfied(by actual: Int64) -> Bool {
        switch self {
        case .any: return true
        case .noStream: return actual == 0
        case .streamExists: return actual > 0
        case .exact(let version): return actual == version
        }
    }

    /// The expectation in words, as error messages show it ("version 3", "no stream").
    public var description: String {
        switch self {
        case .any: return "any"
        case .noStream: return "no stream"
        case .streamExists: return "an existing stream"
        case .exact(let version): return "version \(version)"
        }
    }
}
