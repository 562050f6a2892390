import EventSourcing

/// The eventlog tool's `--filter` parser, for the fuzz target (the parser itself is the tool's
/// own file, compiled into this module).
package enum EventLogFilterParser {
    /// Parses one `--filter` expression as the tool does.
    package static func parse(_ text: String) throws -> EventFilter.Clause { try FilterExpression.parse(text) }

    /// Whether the tool would accept the expression as an argument at all.
    package static func accepts(_ text: String) -> Bool { FilterExpression(argument: text) != nil }
}
