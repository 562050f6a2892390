import EventSourcingCore
import PostgresNIO

/// A filter as an SQL condition on the `events` table (alias `e`), with its values bound as
/// parameters: never spliced into the text, so a stream id or metadata key that looks like SQL is
/// just data.
///
/// The condition selects every event the filter accepts and may select a few more (`LIKE` runs
/// as `ILIKE`, which folds more than ASCII letters; a number's text in `LIKE` is left to Swift);
/// the store then applies the exact filter to what comes back (`PageBuilder`), so the answer is
/// the same as every other store's.
struct PostgresFilterSQL {
    private(set) var conditions: [String] = []

    /// Appends the conditions of `filter` to `bindings`, numbering parameters after those already there.
    init(_ filter: CompiledFilter, bindings: inout PostgresBindings) {
        for (field, test) in filter.clauses {
            conditions.append(Self.condition(field, test, &bindings))
        }
    }

    /// The conditions joined with AND, each starting with " AND ".
    var sql: String { conditions.map { " AND " + $0 }.joined() }

    private static func parameter(_ bindings: inout PostgresBindings, _ value: some PostgresDynamicTypeEncodable)
        -> String
    {
        bindings.append(value)
        return "$\(bindings.count)"
    }

    private static func condition(
        _ field: CompiledFilter.Field, _ test: CompiledFilter.Test, _ bindings: inout PostgresBindings
    ) -> String {
        switch field {
        case .streamID: return text("e.stream_id", test, &bindings)
        case .eventType: return text("e.event_type", test, &bindings)
        case .version: return integer("e.version", test, &bindings)
        case .sequenceID: return integer("e.sequence_id", test, &bindings)
        case .metadata(let path): return metadata(path, test, &bindings)
        }
    }

    /// A text column: equal only to strings.
    private static func text(_ column: String, _ test: CompiledFilter.Test, _ bindings: inout PostgresBindings)
        -> String
    {
        switch test {
        case .equals(.string(let value)): return "\(column) = \(parameter(&bindings, value))"
        case .equals: return "false"
        case .oneOf(let values):
            let strings = values.compactMap { if case .string(let text) = $0 { text } else { nil } }
            return strings.isEmpty ? "false" : "\(column) = ANY (\(parameter(&bindings, strings)))"
        case .like(let pattern): return "\(column) ILIKE \(parameter(&bindings, pattern.source)) ESCAPE ''"
        }
    }

    /// An integer column: equal to integers and to doubles with an integral value.
    private static func integer(_ column: String, _ test: CompiledFilter.Test, _ bindings: inout PostgresBindings)
        -> String
    {
        func integral(_ value: JSONValue) -> Int64? {
            switch value {
            case .int(let number): return number
            case .double(let number) where number.rounded() == number && abs(number) < 9.2e18: return Int64(number)
            default: return nil
            }
        }
        switch test {
        case .equals(let value):
            guard let number = integral(value) else { return "false" }
            return "\(column) = \(parameter(&bindings, number))"
        case .oneOf(let values):
            let numbers = values.compactMap(integral)
            return numbers.isEmpty ? "false" : "\(column) = ANY (\(parameter(&bindings, numbers)))"
        case .like(let pattern): return "\(column)::text ILIKE \(parameter(&bindings, pattern.source)) ESCAPE ''"
        }
    }

    /// A path into the `jsonb` metadata: `#>` finds the value (absent: NULL, which matches nothing),
    /// compared as `jsonb`, whose numbers compare numerically, as `JSONValue`'s do.
    private static func metadata(_ path: [String], _ test: CompiledFilter.Test, _ bindings: inout PostgresBindings)
        -> String
    {
        let value = "(e.metadata #> \(parameter(&bindings, path)))"
        switch test {
        case .equals(let expected):
            return "\(value) = \(parameter(&bindings, json(expected)))::jsonb"
        case .oneOf(let values):
            return "\(value) = ANY (\(parameter(&bindings, values.map(json)))::jsonb[])"
        case .like(let pattern):
            // Strings by pattern; numbers are matched by their text in Swift.
            return "(CASE jsonb_typeof(\(value)) WHEN 'string' THEN (\(value) #>> '{}') ILIKE "
                + "\(parameter(&bindings, pattern.source)) ESCAPE '' WHEN 'number' THEN true ELSE false END)"
        }
    }

    private static func json(_ value: JSONValue) -> String {
        var bytes: [UInt8] = []
        value.write(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}
