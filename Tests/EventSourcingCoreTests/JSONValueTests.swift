import Foundation
import Testing

@testable import EventSourcingCore

@Suite("JSONValue") struct JSONValueTests {
    @Test func numbersCompareAndHashNumerically() {
        #expect(JSONValue.int(100) == .double(100.0))
        #expect(JSONValue.double(100.0) == .int(100))
        #expect(JSONValue.int(100) != .double(100.5))
        #expect(JSONValue.int(1) != .bool(true))
        #expect(Set<JSONValue>([.int(7), .double(7.0)]).count == 1)
        #expect(JSONValue.double(9.3e18) != .int(Int64.max))
        #expect(JSONValue.double(.nan) != .int(0))
    }

    @Test func parsesEveryKindOfValue() throws {
        let text =
            #" { "s": "a\"b\\c\n\u00e9\ud83d\ude00", "i": -42, "d": 1.5e3, "t": true, "f": false, "n": null, "a": [1, [2], {}], "o": {"k": "v"} } "#
        let value = try JSONValue.parse(text)
        #expect(
            value == [
                "s": "a\"b\\c\né😀", "i": -42, "d": 1500.0, "t": true, "f": false, "n": nil, "a": [1, [2], [:]],
                "o": ["k": "v"],
            ])
        guard case .object(let members) = value, case .int = members["i"], case .double = members["d"] else {
            Issue.record("integers must parse as .int and fractions as .double")
            return
        }
    }

    @Test func roundTripsThroughText() throws {
        let values: [JSONValue] = [
            nil, true, 0, -1, .int(Int64.max), .int(Int64.min), 0.1, 1e300, -2.5e-300, 100.0, "", "ü\u{0}\u{1F}\"\\/",
            [1, "x", [nil]], ["nested": ["deep": [1, 2, ["k": false]]]],
        ]
        for value in values {
            let text = value.jsonText
            let parsed = try JSONValue.parse(text)
            #expect(parsed == value, "\(text)")
            // Doubles stay doubles and ints stay ints.
            if case .double = value { if case .double = parsed {} else { Issue.record("\(text) lost its kind") } }
            if case .int = value { if case .int = parsed {} else { Issue.record("\(text) lost its kind") } }
        }
        #expect(JSONValue.object(["b": 1, "a": 2]).jsonText == #"{"a":2,"b":1}"#)
        #expect(JSONValue.double(100).jsonText == "100.0")
    }

    @Test func integersBeyondInt64BecomeDoubles() throws {
        #expect(try JSONValue.parse("92233720368547758070") == .double(92233720368547758070.0))
    }

    @Test func rejectsMalformedText() {
        let bad = [
            "", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "tru", "01", "1.", "-", "\"unterminated", "\"\u{1}\"", "[1] x",
            "\"\\x\"", "1e999", "{a:1}", "nul", String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
        ]
        for text in bad {
            #expect(throws: JSONParseError.self, "\(text.prefix(20))") { try JSONValue.parse(text) }
        }
    }

    @Test func readsPythonNonFiniteWordsOnlyWhenAsked() throws {
        let text = #"{"a": NaN, "b": Infinity, "c": -Infinity, "d": -1}"#
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array(text.utf8)) }
        let value = try JSONValue.parse(Array(text.utf8), allowingNonFiniteNumbers: true)
        guard case .object(let members) = value, case .double(let nan) = members["a"] else {
            Issue.record("NaN must parse as a double")
            return
        }
        #expect(nan.isNaN)
        #expect(members["b"] == .double(.infinity))
        #expect(members["c"] == .double(-.infinity))
        #expect(members["d"] == -1)
        #expect(value.jsonText == #"{"a":NaN,"b":Infinity,"c":-Infinity,"d":-1}"#)
        #expect(!value.isValidJSON())
    }

    @Test func rejectsInvalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0x22]) }
    }

    @Test func codableAsPlainJSON() throws {
        let value: JSONValue = ["region": "EMEA", "amount": 100, "list": [1.5, true, nil]]
        let encoded = try JSONEncoder().encode(value)
        #expect(try JSONValue.parse(encoded) == value)
        #expect(
            try JSONDecoder().decode(JSONValue.self, from: Data(#"{"a":[1,2.5,"x",null,false]}"#.utf8))
                == ["a": [1, 2.5, "x", nil, false]])
        #expect(String(decoding: try JSONEncoder().encode(JSONValue.string("EMEA")), as: UTF8.self) == #""EMEA""#)
    }

    @Test func validityChecksFiniteNumbersAndDepth() {
        #expect(JSONValue.object(["a": 1.0]).isValidJSON())
        #expect(!JSONValue.object(["a": .double(.infinity)]).isValidJSON())
        var deep: JSONValue = 1
        for _ in 0..<(Limits.metadataDepthMax + 1) { deep = [deep] }
        #expect(!deep.isValidJSON())
    }
}

@Suite("LIKE patterns") struct LikePatternTests {
    @Test(arguments: [
        ("order-%", "order-42", true), ("order-%", "order-", true), ("order-%", "orde", false),
        ("%", "", true), ("_", "", false), ("_", "é", true), ("a_c", "abc", true), ("a_c", "abbc", false),
        ("%b%", "abc", true), ("%b%", "ac", false), ("ABC", "abc", true), ("É", "é", false),
        ("%a%a%a%", "aaa", true), ("%a%a%a%", "aa", false), ("a%%b", "ab", true), ("", "", true), ("", "x", false),
    ])
    func matches(pattern: String, text: String, expected: Bool) {
        #expect(LikePattern(pattern).matches(text) == expected)
    }
}

@Suite("Filter compilation") struct CompiledFilterTests {
    @Test func fieldsAreChecked() throws {
        _ = try CompiledFilter(EventFilter([.equals("stream_id", "x"), .like("metadata.a.b", "%")]))
        #expect(throws: EventStoreError.unsupportedFilterField("data")) {
            try CompiledFilter(EventFilter([.equals("data", "x")]))
        }
        #expect(throws: EventStoreError.self) { try CompiledFilter(EventFilter([.oneOf("version", [])])) }
        #expect(throws: EventStoreError.self) { try CompiledFilter(EventFilter([.equals("metadata.", 1)])) }
    }
}

@Suite("Batch preparation") struct BatchPreparationTests {
    @Test func repeatedKeysAreDroppedKeepingTheFirst() throws {
        var events: [CandidateEvent] = []
        for index in 0..<5000 {
            events.append(CandidateEvent(type: "T\(index)", idempotencyKey: "k\(index % 1700)"))
            if index % 7 == 0 { events.append(CandidateEvent(type: "NoKey")) }
        }
        let kept = try Validation.prepareBatch(events)
        var seen: Set<String> = []
        let expected = events.filter { event in event.idempotencyKey.map { seen.insert($0).inserted } ?? true }
        #expect(kept == expected)
        #expect(kept.filter { $0.idempotencyKey != nil }.count == 1700)
    }
}
