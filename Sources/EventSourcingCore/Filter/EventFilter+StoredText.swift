extension EventFilter {
    /// The filter as JSON text, for a subscription's record: an array with one object per clause,
    /// `{"equals": [field, value]}`, `{"oneOf": [field, [values]]}` or `{"like": [field, pattern]}`.
    package var storedText: String {
        JSONValue.array(
            clauses.map { clause in
                switch clause {
                case .equals(let field, let value): return ["equals": [.string(field), value]]
                case .oneOf(let field, let values): return ["oneOf": [.string(field), .array(values)]]
                case .like(let field, let pattern): return ["like": [.string(field), .string(pattern)]]
                }
            }
        ).jsonText
    }

    /// Reads `storedText` back.
    /// - Throws: `EventStoreError.corruption` when the text is not such a filter.
    package init(storedText text: String) throws {
        func damaged() -> EventStoreError {
            .corruption("a subscription's stored filter is not one this version writes: \(text.prefix(200))")
        }
        guard case .array(let items) = try? JSONValue.parse(text) else { throw damaged() }
        self.init(
            try items.map { item in
                guard case .object(let members) = item, members.count == 1, let (kind, operands) = members.first,
                    case .array(let pair) = operands, pair.count == 2, case .string(let field) = pair[0]
                else { throw damaged() }
                switch (kind, pair[1]) {
                case ("equals", let value): return .equals(field, value)
                case ("oneOf", .array(let values)): return .oneOf(field, values)
                case ("like", .string(let pattern)): return .like(field, pattern)
                default: throw damaged()
                }
            })
    }
}
