import ArgumentParser
import EventSourcing

/// `--filter EXPR`: `field=value`, `field~pattern` (LIKE) or `field:in:a,b,c`. A value that parses
/// as a JSON number, `true`, `false` or `null` is that JSON value; anything else is a string.
struct FilterExpression: ExpressibleByArgument {
    let clause: EventFilter.Clause

    init?(argument: String) {
        guard let parsed = try? Self.parse(argument) else { return nil }
        clause = parsed
    }

    static var defaultCompletionKind: CompletionKind { .default }

    /// Parses one expression; the operator is the first `=`, `~` or `:in:` in it.
    static func parse(_ text: String) throws -> EventFilter.Clause {
        let operators = ["=", "~", ":in:"].compactMap { op in text.range(of: op).map { (op, $0) } }
        guard let (op, range) = operators.min(by: { $0.1.lowerBound < $1.1.lowerBound }) else {
            throw ValidationError("a filter is field=value, field~pattern or field:in:a,b,c, not '\(text)'")
        }
        let field = String(text[..<range.lowerBound])
        let value = String(text[range.upperBound...])
        guard !field.isEmpty else { throw ValidationError("the filter '\(text)' names no field") }
        switch op {
        case "=": return .equals(field, jsonValue(value))
        case "~": return .like(field, value)
        default:
            let values = value.split(separator: ",", omittingEmptySubsequences: false).map { jsonValue(String($0)) }
            return .oneOf(field, value.isEmpty ? [] : values)
        }
    }

    static func jsonValue(_ text: String) -> JSONValue {
        switch text {
        case "true": return true
        case "false": return false
        case "null": return nil
        default:
            if let parsed = try? JSONValue.parse(text) {
                switch parsed {
                case .int, .double: return parsed
                default: break
                }
            }
            return .string(text)
        }
    }
}

extension Array where Element == FilterExpression {
    var eventFilter: EventFilter? { isEmpty ? nil : EventFilter(map(\.clause)) }

    /// Refuses an unknown field or an empty list before the store is opened or anything printed.
    func check() throws {
        if let filter = eventFilter { _ = try CompiledFilter(filter) }
    }
}
