/// An `EventFilter` checked once and ready to test events.
package struct CompiledFilter: Sendable {
    package enum Field: Sendable {
        case streamID, eventType, version, sequenceID
        case metadata([String])
    }

    package enum Test: Sendable {
        case equals(JSONValue)
        case oneOf([JSONValue])
        case like(LikePattern)
    }

    package let clauses: [(Field, Test)]

    /// Validates `filter`.
    /// - Throws: `EventStoreError.unsupportedFilterField` for an unknown field,
    ///   `EventStoreError.invalidFilter` for an empty `oneOf` list or an empty metadata path key.
    package init(_ filter: EventFilter) throws {
        clauses = try filter.clauses.map { clause in
            switch clause {
            case .equals(let field, let value):
                return (try CompiledFilter.field(named: field), .equals(value))
            case .oneOf(let field, let values):
                let compiled = try CompiledFilter.field(named: field)
                guard !values.isEmpty else { throw EventStoreError.invalidFilter("oneOf on '\(field)' has no values") }
                return (compiled, .oneOf(values))
            case .like(let field, let pattern):
                return (try CompiledFilter.field(named: field), .like(LikePattern(pattern)))
            }
        }
    }

    static func field(named name: String) throws -> Field {
        switch name {
        case "stream_id": return .streamID
        case "event_type": return .eventType
        case "version": return .version
        case "sequence_id": return .sequenceID
        default:
            guard name.hasPrefix("metadata.") else { throw EventStoreError.unsupportedFilterField(name) }
            let path = name.dropFirst("metadata.".count).split(separator: ".", omittingEmptySubsequences: false)
            guard path.allSatisfy({ !$0.isEmpty }) else {
                throw EventStoreError.invalidFilter("'\(name)' has an empty key in its metadata path")
            }
            return .metadata(path.map(String.init))
        }
    }

    /// Whether `event` satisfies every clause.
    package func matches(_ event: StoredEvent) -> Bool {
        for (field, test) in clauses {
            guard let value = CompiledFilter.value(of: field, in: event), test.holds(for: value) else { return false }
        }
        return true
    }

    static func value(of field: Field, in event: StoredEvent) -> JSONValue? {
        switch field {
        case .streamID: return .string(event.streamID)
        case .eventType: return .string(event.type)
        case .version: return .int(event.version)
        case .sequenceID: return .int(event.sequenceID)
        case .metadata(let path):
            guard var current = event.metadata.map(JSONValue.object) else { return nil }
            for key in path {
                guard case .object(let members) = current, let next = members[key] else { return nil }
                current = next
            }
            return current
        }
    }
}

extension CompiledFilter.Test {
    func holds(for value: JSONValue) -> Bool {
        switch self {
        case .equals(let expected): return value == expected
        case .oneOf(let candidates): return candidates.contains(value)
        case .like(let pattern):
            switch value {
            case .string(let text): return pattern.matches(text)
            case .int(let number): return pattern.matches(String(number))
            case .double(let number): return pattern.matches(number.description)
            default: return false
            }
        }
    }
}
