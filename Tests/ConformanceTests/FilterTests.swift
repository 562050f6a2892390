import EventSourcing
import EventSourcingCore
import Foundation
import Testing

@Suite("Filters") struct FilterTests {
    /// Six events over three streams with metadata.
    static func populate(_ store: any EventStore) async throws {
        try await store.stream("order-1").write([
            CandidateEvent(type: "Placed", metadata: ["region": "EMEA", "amount": 100, "customer": ["tier": "gold"]]),
            CandidateEvent(type: "Paid", metadata: ["region": "EMEA", "amount": 100.0]),
        ])
        try await store.stream("order-2").write([
            CandidateEvent(type: "Placed", metadata: ["region": "APAC", "amount": 25.5]),
            CandidateEvent(type: "Cancelled", metadata: ["region": nil]),
        ])
        try await store.stream("Customer-7").write([
            CandidateEvent(type: "Registered", metadata: ["region": "emea", "customer": ["tier": "silver"]]),
            CandidateEvent(type: "placed_late"),
        ])
    }

    func types(_ store: any EventStore, in stream: String = "@all", _ clauses: [EventFilter.Clause]) async throws
        -> [String]
    {
        try await collect(store.stream(stream).read(filter: EventFilter(clauses))).map(\.type)
    }

    @Test(arguments: StoreKind.allCases)
    func equalsOnEveryField(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.populate(store)
            #expect(try await types(store, [.equals("stream_id", "order-2")]) == ["Placed", "Cancelled"])
            #expect(try await types(store, [.equals("event_type", "Placed")]) == ["Placed", "Placed"])
            #expect(try await types(store, [.equals("version", 2)]) == ["Paid", "Cancelled", "placed_late"])
            #expect(try await types(store, [.equals("sequence_id", 3)]) == ["Placed"])
            #expect(try await types(store, [.equals("metadata.region", "EMEA")]) == ["Placed", "Paid"])
            #expect(try await types(store, [.equals("metadata.customer.tier", "silver")]) == ["Registered"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func numbersCompareNumerically(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.populate(store)
            #expect(try await types(store, [.equals("metadata.amount", 100)]) == ["Placed", "Paid"])
            #expect(try await types(store, [.equals("metadata.amount", 100.0)]) == ["Placed", "Paid"])
            #expect(try await types(store, [.equals("version", .double(1.0))]) == ["Placed", "Placed", "Registered"])
            #expect(try await types(store, [.equals("metadata.amount", "100")]).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func absentPathsNeverMatchButExplicitNullDoes(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.populate(store)
            #expect(try await types(store, [.equals("metadata.region", nil)]) == ["Cancelled"])
            #expect(try await types(store, [.equals("metadata.missing", nil)]).isEmpty)
            #expect(try await types(store, [.like("metadata.region.deeper", "%")]).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func oneOf(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.populate(store)
            #expect(try await types(store, [.oneOf("event_type", ["Paid", "Cancelled"])]) == ["Paid", "Cancelled"])
            #expect(try await types(store, [.oneOf("metadata.region", ["APAC", "emea"])]) == ["Placed", "Registered"])
            #expect(try await types(store, [.oneOf("sequence_id", [1, 6, 99])]) == ["Placed", "placed_late"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func likeIsCaseInsensitiveWithWildcards(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.populate(store)
            #expect(
                try await types(store, [.like("stream_id", "order-%")]) == ["Placed", "Paid", "Placed", "Cancelled"])
            #expect(try await types(store, [.like("event_type", "PLACED%")]) == ["Placed", "Placed", "placed_late"])
            #expect(try await types(store, [.like("stream_id", "order-_")]).count == 4)
            #expect(try await types(store, [.like("stream_id", "order-")]).isEmpty)
            #expect(try await types(store, [.like("metadata.region", "e%a")]) == ["Placed", "Paid", "Registered"])
            #expect(try await types(store, [.like("metadata.amount", "25.%")]) == ["Placed"])
            #expect(try await types(store, [.like("version", "2")]) == ["Paid", "Cancelled", "placed_late"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func clausesAreANDedAndWorkOnNamedStreams(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.populate(store)
            #expect(
                try await types(store, [.like("stream_id", "order-%"), .equals("metadata.region", "EMEA")])
                    == ["Placed", "Paid"])
            #expect(try await types(store, in: "order-1", [.equals("event_type", "Paid")]) == ["Paid"])
            #expect(try await types(store, in: "order-2", [.equals("metadata.region", "EMEA")]).isEmpty)
            #expect(try await types(store, []).count == 6)
        }
    }

    @Test(arguments: StoreKind.allCases)
    func filtersCombineWithLimitFromAndDirection(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await Self.populate(store)
            let all = try await store.stream("@all")
            let placed = EventFilter([.like("event_type", "placed%")])
            #expect(try await collect(all.read(limit: 2, filter: placed)).map(\.sequenceID) == [1, 3])
            #expect(try await collect(all.read(from: 1, limit: 1, filter: placed)).map(\.sequenceID) == [3])
            #expect(
                try await collect(all.read(direction: .backward, limit: 2, filter: placed)).map(\.sequenceID) == [6, 3])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func sparseFilterOverManyPages(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(
                (1...6000).map {
                    CandidateEvent(type: "E", metadata: ["region": $0 % 1000 == 0 ? "rare" : "common"])
                })
            let rare = try await collect(stream.read(filter: EventFilter([.equals("metadata.region", "rare")])))
            #expect(rare.map(\.version) == [1000, 2000, 3000, 4000, 5000, 6000])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func badFiltersAreRejectedBeforeReading(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let all = try await store.stream("@all")
            await expectError(.unsupportedFilterField("payload")) {
                try await collect(all.read(filter: EventFilter([.equals("payload", 1)])))
            }
            await expectError(.unsupportedFilterField("metadata")) {
                try await collect(all.read(filter: EventFilter([.equals("metadata", 1)])))
            }
            await expectError({ try await collect(all.read(filter: EventFilter([.oneOf("event_type", [])]))) }) {
                if case .invalidFilter = $0 { return true } else { return false }
            }
            await expectError({ try await collect(all.read(filter: EventFilter([.equals("metadata.a..b", 1)]))) }) {
                if case .invalidFilter = $0 { return true } else { return false }
            }
            await expectError(.unsupportedFilterField("id")) {
                var iterator = all.watch(from: 0, filter: EventFilter([.equals("id", "x")])).makeAsyncIterator()
                return try await iterator.next()
            }
        }
    }
}

extension FilterTests {
    /// A filtered read returns exactly the events of the unfiltered read that the filter matches,
    /// whatever the values look like (quotes, slashes, escapes, non-ASCII, numbers beside strings
    /// of the same digits, nesting) and however small the pages: a store may skip records it can
    /// tell cannot match (the log store does, from their bytes), never one that can.
    @Test(arguments: StoreKind.allCases)
    func aFilteredReadIsTheUnfilteredReadFiltered(kind: StoreKind) async throws {
        let values: [JSONValue] = [
            "EMEA", "APAC", "a\"b", "a/b", "a\\b", "Zürich", "1", 1, 1.0, true, nil, "", "EM", "EMEA ", ["region": "EMEA"],
        ]
        try await withStore(kind) { store in
            for batch in 0..<12 {
                let events = (0..<25).map { index -> CandidateEvent in
                    let value = values[(batch * 25 + index) % values.count]
                    var metadata: [String: JSONValue] = ["region": value, "nested": ["tier": value]]
                    if index % 7 == 0 { metadata["other"] = "\"region\":\"EMEA\"" }
                    return CandidateEvent(
                        type: index % 3 == 0 ? "Placed" : "Paid", metadata: index % 11 == 5 ? nil : metadata)
                }
                try await store.stream("s-\(batch % 3)").write(events)
            }
            let all = try await collect(store.stream("@all").read())
            var filters: [EventFilter] = values.map { EventFilter([.equals("metadata.region", $0)]) }
            filters += values.map { EventFilter([.equals("metadata.nested.tier", $0)]) }
            filters += [
                EventFilter([.oneOf("metadata.region", ["EMEA", "a/b", "Zürich"])]),
                EventFilter([.oneOf("metadata.region", ["EMEA", 1])]),
                EventFilter([.equals("event_type", "Placed"), .equals("metadata.region", "APAC")]),
                EventFilter([.oneOf("stream_id", ["s-1", "s-2"]), .equals("metadata.nested.tier", "a\"b")]),
                EventFilter([.like("metadata.region", "EM%")]),
            ]
            for filter in filters {
                let compiled = try CompiledFilter(filter)
                let expected = all.filter(compiled.matches).map(\.sequenceID)
                for limit in [1, 7, 1_000] {
                    var got: [Int64] = []
                    var from: Int64 = 0
                    while true {
                        let page = try await collect(store.stream("@all").read(from: from, limit: limit, filter: filter))
                        got += page.map(\.sequenceID)
                        guard let last = page.last else { break }
                        from = last.sequenceID
                    }
                    #expect(got == expected, "\(filter) limit \(limit)")
                }
            }
        }
    }
}
