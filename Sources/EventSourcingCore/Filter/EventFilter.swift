/// A condition on events; every clause must hold (AND).
///
/// Fields: `stream_id`, `event_type`, `version`, `sequence_id`, and `metadata.<key>[.<key>...]`
/// (a path into the metadata object). A metadata path that is absent never matches.
///
/// - `equals` compares JSON values, numbers numerically (`100 == 100.0`); `equals(path, nil)`
///   matches a metadata value that is explicitly `null`.
/// - `oneOf` holds when any of its values would satisfy `equals` (SQL `IN`); an empty list is an error.
/// - `like` is SQL `LIKE`: `%` matches any run of characters, `_` exactly one, letters compare
///   ASCII case-insensitively, with no escape character. It applies to strings and to numbers
///   (as their decimal text); other values never match.
///
/// Thread-safety: a value type; safe to share between tasks.
public struct EventFilter: Sendable, Hashable {
    /// The clauses; all must hold.
    public var clauses: [Clause]

    /// Creates a filter from clauses that must all hold.
    public init(_ clauses: [Clause]) { self.clauses = clauses }

    /// One condition on one field.
    public enum Clause: Sendable, Hashable {
        /// The field's value equals `value` (numbers compare numerically).
        case equals(_ field: String, _ value: JSONValue)
        /// The field's value equals one of `values` (SQL `IN`); the list must not be empty.
        case oneOf(_ field: String, _ values: [JSONValue])
        /// The field's value matches the SQL `LIKE` pattern `pattern` (`%`, `_`).
        case like(_ field: String, _ pattern: String)
    }
}
