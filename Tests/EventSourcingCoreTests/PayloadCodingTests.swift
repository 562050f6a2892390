import Foundation
import Testing

@testable import EventSourcingCore

private struct Inner: Codable, Equatable {
    var name: String
    var tags: [String]
}

private struct Outer: Codable, Equatable {
    var id: Int
    var inner: Inner
    var inners: [Inner]
    var maybe: Inner?
}

private enum Shape: Codable, Equatable {
    case circle(radius: Double)
    case rectangle(Double, Double)
    case point
    case labelled(name: String, shape: [Shape])
}

private struct Optionals: Codable, Equatable {
    var present: Int?
    var absent: String?
    var nested: [Int?]
}

private struct Scalars: Codable, Equatable {
    var bool: Bool
    var int8: Int8
    var int16: Int16
    var int32: Int32
    var int64: Int64
    var uint: UInt
    var uint8: UInt8
    var uint16: UInt16
    var uint32: UInt32
    var uint64: UInt64
    var float: Float
    var double: Double
}

private struct Specials: Codable, Equatable {
    var data: Data
    var date: Date
    var url: URL
    var decimal: Decimal
    var emptyData: Data
}

private struct Collections: Codable, Equatable {
    var byName: [String: Int]
    var byNumber: [Int: String]
    var byUUID: [UUID: Int]
    var empty: [Int]
    var emptyObject: [String: Int]
    var matrix: [[Double]]
    var set: Set<String>
}

/// A base class encoding through `superEncoder()`, as class hierarchies do.
private class Animal: Codable, Equatable {
    var legs: Int
    init(legs: Int) { self.legs = legs }
    static func == (lhs: Animal, rhs: Animal) -> Bool { lhs.legs == rhs.legs }
}

private final class Dog: Animal {
    var name: String
    init(name: String, legs: Int) {
        self.name = name
        super.init(legs: legs)
    }
    enum CodingKeys: String, CodingKey { case name }
    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        try super.init(from: container.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try super.encode(to: container.superEncoder())
    }
    static func == (lhs: Dog, rhs: Dog) -> Bool { lhs.name == rhs.name && lhs.legs == rhs.legs }
}

/// Writes into a nested container after starting a later sibling: legal, and kept by JSONEncoder.
private struct OutOfOrder: Codable, Equatable {
    var first: Int
    var second: Int
    enum CodingKeys: String, CodingKey { case a, b }
    enum InnerKeys: String, CodingKey { case value }
    init(first: Int, second: Int) {
        self.first = first
        self.second = second
    }
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        first = try container.nestedContainer(keyedBy: InnerKeys.self, forKey: .a).decode(Int.self, forKey: .value)
        second = try container.nestedContainer(keyedBy: InnerKeys.self, forKey: .b).decode(Int.self, forKey: .value)
    }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        var a = container.nestedContainer(keyedBy: InnerKeys.self, forKey: .a)
        var b = container.nestedContainer(keyedBy: InnerKeys.self, forKey: .b)
        try b.encode(second, forKey: .value)
        try a.encode(first, forKey: .value)
    }
}

/// A value that encodes nothing: JSONEncoder writes `{}` for it when nested.
private struct Nothing: Codable, Equatable {
    init() {}
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
}

private struct HoldsNothing: Codable, Equatable {
    var nothing: Nothing
    var after: Int
}

private enum PayloadTestFailure: Error { case notAnObject }

/// Encodes a second payload from inside its own `encode(to:)`, while the first pass holds the writer.
private struct EncodesAnother: Codable, Equatable {
    var inner: Text
    var innerJSON: String

    init(_ text: String) throws {
        inner = Text(text: text)
        innerJSON = String(decoding: try PayloadEncoder.encode(inner), as: UTF8.self)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(inner, forKey: .inner)
        try container.encode(String(decoding: try PayloadEncoder.encode(inner), as: UTF8.self), forKey: .innerJSON)
    }
}

/// Keeps the encoder it is given, as a (questionable) conformance may: the writer must then not
/// be handed to the next pass.
private final class EncoderKeeper: @unchecked Sendable {  // safe: used by one test task only
    var kept: [any Encoder] = []
}

private struct KeepsItsEncoder: Encodable {
    let keeper: EncoderKeeper
    var value: Int

    func encode(to encoder: any Encoder) throws {
        keeper.kept.append(encoder)
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }
}

/// An array nested `depth` times around `leaf`.
private indirect enum Nest: Codable, Equatable {
    case leaf(Int)
    case nest([Nest])

    static func deep(_ depth: Int) -> Nest { depth == 0 ? .leaf(depth) : .nest([.deep(depth - 1), .leaf(depth)]) }
}

private struct Text: Codable, Equatable { var text: String }
private struct Number<T: Codable & Equatable>: Codable, Equatable { var value: T }

@Suite("PayloadEncoder and PayloadDecoder") struct PayloadCodingTests {
    /// Ours → Foundation, Foundation → ours and ours → ours all give `value` back.
    private func roundTrip<T: Codable & Equatable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ours = try PayloadEncoder.encode(value)
        let theirs = try JSONEncoder().encode(value)
        #expect(
            try JSONDecoder().decode(T.self, from: ours) == value, "Foundation reads \(String(decoding: ours, as: UTF8.self))",
            sourceLocation: sourceLocation)
        #expect(
            try PayloadDecoder.decode(T.self, from: theirs) == value, "we read \(String(decoding: theirs, as: UTF8.self))",
            sourceLocation: sourceLocation)
        #expect(try PayloadDecoder.decode(T.self, from: ours) == value, sourceLocation: sourceLocation)
        #expect((try? JSONValue.parse(ours)) != nil, "valid JSON", sourceLocation: sourceLocation)
    }

    private func expectDecodingError<T: Decodable>(
        _ type: T.Type, _ json: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(throws: DecodingError.self, "\(json)", sourceLocation: sourceLocation) {
            try PayloadDecoder.decode(T.self, from: Data(json.utf8))
        }
    }

    @Test func nestedStructsEnumsAndOptionalsRoundTrip() throws {
        let inner = Inner(name: "in", tags: ["a", "b"])
        try roundTrip(Outer(id: 1, inner: inner, inners: [inner, Inner(name: "", tags: [])], maybe: nil))
        try roundTrip(Outer(id: -1, inner: inner, inners: [], maybe: inner))
        try roundTrip(Shape.circle(radius: 2.5))
        try roundTrip(Shape.rectangle(1, 2))
        try roundTrip(Shape.point)
        try roundTrip(Shape.labelled(name: "group", shape: [.point, .circle(radius: 0.1), .labelled(name: "", shape: [])]))
        try roundTrip(Optionals(present: 3, absent: nil, nested: [1, nil, 3]))
        try roundTrip(Optionals(present: nil, absent: "here", nested: []))
        try roundTrip([Shape.point, .rectangle(-0.5, 1e-300)])
        try roundTrip(Dog(name: "Rex", legs: 4))
        try roundTrip(HoldsNothing(nothing: Nothing(), after: 1))
        #expect(String(decoding: try PayloadEncoder.encode(HoldsNothing(nothing: Nothing(), after: 1)), as: UTF8.self)
            == #"{"nothing":{},"after":1}"#)
    }

    @Test func optionalsDecodeAsFoundationDoes() throws {
        // Missing and null are both nil; a present value is decoded.
        for json in [#"{"nested":[]}"#, #"{"present":null,"absent":null,"nested":[null]}"#] {
            let ours = try PayloadDecoder.decode(Optionals.self, from: Data(json.utf8))
            let theirs = try JSONDecoder().decode(Optionals.self, from: Data(json.utf8))
            #expect(ours == theirs)
            #expect(ours.present == nil && ours.absent == nil)
        }
        // null where a value is required is valueNotFound; a missing key is keyNotFound.
        #expect {
            try PayloadDecoder.decode(Inner.self, from: Data(#"{"name":null,"tags":[]}"#.utf8))
        } throws: { error in
            if case DecodingError.valueNotFound = error { true } else { false }
        }
        #expect {
            try PayloadDecoder.decode(Inner.self, from: Data(#"{"tags":[]}"#.utf8))
        } throws: { error in
            if case DecodingError.keyNotFound(let key, _) = error { key.stringValue == "name" } else { false }
        }
    }

    @Test func scalarsOfEveryWidthRoundTripAtTheirLimits() throws {
        try roundTrip(
            Scalars(
                bool: true, int8: .min, int16: .min, int32: .min, int64: .min, uint: .max, uint8: .max, uint16: .max,
                uint32: .max, uint64: .max, float: .greatestFiniteMagnitude, double: -.greatestFiniteMagnitude))
        try roundTrip(
            Scalars(
                bool: false, int8: .max, int16: .max, int32: .max, int64: .max, uint: 0, uint8: 0, uint16: 0, uint32: 0,
                uint64: 0, float: 0.1, double: 0.1))
        for double in [0.1, 1e300, -1e-300, 123456789.125, .pi, 1e15, 1e16, 9_007_199_254_740_992, .leastNonzeroMagnitude, 1]
        {
            try roundTrip(Number(value: double))
        }
        for float: Float in [0.1, 3.4e38, .leastNonzeroMagnitude, 16_777_216] { try roundTrip(Number(value: float)) }
        let negativeZero = try PayloadDecoder.decode(Number<Double>.self, from: PayloadEncoder.encode(Number(value: -0.0)))
        #expect(negativeZero.value == 0 && negativeZero.value.sign == .minus)
        let fromFoundation = try PayloadDecoder.decode(Number<Double>.self, from: JSONEncoder().encode(Number(value: -0.0)))
        #expect(fromFoundation.value.sign == .minus)
        #expect(String(decoding: try PayloadEncoder.encode(UInt64.max), as: UTF8.self) == "18446744073709551615")
        #expect(String(decoding: try PayloadEncoder.encode(Int64.min), as: UTF8.self) == "-9223372036854775808")
        #expect(try PayloadDecoder.decode(Int64.self, from: Data("-9223372036854775808".utf8)) == .min)
        #expect(try PayloadDecoder.decode(UInt64.self, from: Data("18446744073709551615".utf8)) == .max)
    }

    @Test func numbersFromOtherWritersDecode() throws {
        #expect(try PayloadDecoder.decode(Double.self, from: Data("1.5e3".utf8)) == 1500)
        #expect(try PayloadDecoder.decode(Double.self, from: Data("-2E-2".utf8)) == -0.02)
        #expect(try PayloadDecoder.decode(Double.self, from: Data("12345678901234567890".utf8)) == 12_345_678_901_234_567_168)
        #expect(try PayloadDecoder.decode(Int.self, from: Data("1e2".utf8)) == 100)
        #expect(try PayloadDecoder.decode(Int.self, from: Data("3.0".utf8)) == 3)
        #expect(try PayloadDecoder.decode(Float.self, from: Data("0.1".utf8)) == Float(0.1))
        #expect(try PayloadDecoder.decode(Decimal.self, from: Data("3.14159".utf8)) == Decimal(string: "3.14159"))
        let spaced = Data(" \n{ \"tags\" :\t[ \"x\" ] ,\r\n \"name\" : \"n\" } \n".utf8)
        #expect(try PayloadDecoder.decode(Inner.self, from: spaced) == Inner(name: "n", tags: ["x"]))
        #expect(try PayloadDecoder.decode(Inner.self, from: Data(#"{"tags":[],"extra":{"a":[1,{}]},"name":"n"}"#.utf8))
            == Inner(name: "n", tags: []))
    }

    @Test func dictionariesMatchFoundation() throws {
        let value = Collections(
            byName: ["a": 1, "b/c": 2, "": 3], byNumber: [1: "one", -2: "minus two"], byUUID: [UUID(): 7], empty: [],
            emptyObject: [:], matrix: [[], [1, 2.5]], set: ["x", "y"])
        try roundTrip(value)
        // [Int: X] is an object keyed by the numbers' text, as JSONEncoder writes it.
        let intKeyed = try JSONValue.parse(PayloadEncoder.encode([3: "three"]))
        #expect(intKeyed == (try JSONValue.parse(JSONEncoder().encode([3: "three"]))))
        #expect(intKeyed == ["3": "three"])
        // Other key types: an array of alternating keys and values, as Dictionary's Codable writes it.
        let doubleKeyed: [Double: String] = [1.5: "x"]
        try roundTrip(doubleKeyed)
        #expect(try JSONValue.parse(PayloadEncoder.encode(doubleKeyed)) == [1.5, "x"])
        // Many keys: the indexed lookup.
        let large = Dictionary(uniqueKeysWithValues: (0..<500).map { ("key\($0)", [$0]) })
        try roundTrip(large)
    }

    @Test func specialTypesAreEncodedAsJSONEncoderEncodesThem() throws {
        let value = Specials(
            data: Data([0, 1, 2, 250, 255]), date: Date(timeIntervalSinceReferenceDate: 123_456.789),
            url: URL(string: "https://example.com/a?b=c#d")!, decimal: Decimal(string: "-12.345")!, emptyData: Data())
        try roundTrip(value)
        let ours = try JSONValue.parse(PayloadEncoder.encode(value))
        let theirs = try JSONValue.parse(JSONEncoder().encode(value))
        #expect(ours == theirs)
        guard case .object(let members) = ours else { throw PayloadTestFailure.notAnObject }
        #expect(members["data"] == "AAEC+v8=")
        #expect(members["url"] == "https://example.com/a?b=c#d")
        try roundTrip(Date(timeIntervalSince1970: 0))
        try roundTrip(URL(string: "file:///tmp/x%20y")!)
        try roundTrip(Data("bytes".utf8))
        try roundTrip(Decimal(12))
    }

    @Test func stringsEscapeEveryCharacterJSONNeeds() throws {
        let controls = String((0..<0x20).map { Character(Unicode.Scalar(UInt8($0))) })
        for text in ["", "plain", "quote \" backslash \\ slash /", controls, "emoji 😀👩‍👩‍👧 ünïcödé 日本", "\u{7F}\u{2028}\u{FEFF}"] {
            try roundTrip(Text(text: text))
        }
        // Simple payloads come out byte for byte as JSONEncoder writes them.
        for value in [Text(text: "a/b \"c\" \n\t"), Text(text: "account-42")] {
            #expect(try PayloadEncoder.encode(value) == (try JSONEncoder().encode(value)))
        }
        let escaped = #"{"text":"\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\\u0041"}"#
        #expect(try PayloadDecoder.decode(Text.self, from: Data(escaped.utf8)).text == "é😀/\u{8}\u{C}\n\r\t\"\\A")
        #expect(try PayloadDecoder.decode(Text.self, from: Data(#"{"te\u0078t":"key escaped"}"#.utf8)).text == "key escaped")
    }

    @Test func containersUsedOutOfOrderStillEncodeAsJSONEncoderDoes() throws {
        try roundTrip(OutOfOrder(first: 1, second: 2))
        // JSONEncoder's own member order is not stable here, so compare values, not bytes.
        let ours = try JSONValue.parse(PayloadEncoder.encode(OutOfOrder(first: 1, second: 2)))
        #expect(ours == ["a": ["value": 1], "b": ["value": 2]])
    }

    @Test func nonFiniteNumbersAndEmptyValuesDoNotEncode() {
        for value in [Double.nan, .infinity, -.infinity] {
            #expect(throws: EncodingError.self) { try PayloadEncoder.encode(Number(value: value)) }
            #expect(throws: EncodingError.self) { try PayloadEncoder.encode([value]) }
        }
        #expect(throws: EncodingError.self) { try PayloadEncoder.encode(Number(value: Float.nan)) }
        #expect(throws: EncodingError.self) { try PayloadEncoder.encode(Nothing()) }
    }

    @Test func malformedInputIsADecodingError() {
        for json in [
            "", " ", "{", #"{"name":"n","tags":["#, #"{"name":"n","tags":[]"#, #"{"name":"n" "tags":[]}"#,
            #"{"name":"n","tags":[],}"#, #"{"name":"n","tags":[]} x"#, #"{"name":"unterminated}"#, #"{"name":"\x","tags":[]}"#,
            #"{"name":"\ud800","tags":[]}"#, #"{"name":"\udc00x","tags":[]}"#, "{\"name\":\"\u{1}\",\"tags\":[]}",
            #"{"name":1,"tags":[]}"#, #"{"name":"n","tags":"t"}"#, #"{"name":"n","tags":[1]}"#, #"["name"]"#, "null",
            #"{name:"n","tags":[]}"#, #"{"name":"n","tags":[]}}"#, "{\"name\":\"n\",\"tags\":[],\"a\":01}",
            "{\"name\":\"n\",\"tags\":[],\"a\":-}", "{\"name\":\"n\",\"tags\":[],\"a\":1.}", "{\"name\":\"n\",\"tags\":[],\"a\":tru}",
        ] {
            expectDecodingError(Inner.self, json)
        }
        expectDecodingError(Inner.self, String(repeating: "[", count: 10_000))
        #expect(throws: DecodingError.self) { try PayloadDecoder.decode(Text.self, from: Data([0x7B, 0x22, 0x74, 0x65, 0x78, 0x74, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D])) }
        // Overflow and wrong widths.
        expectDecodingError(Number<UInt8>.self, #"{"value":256}"#)
        expectDecodingError(Number<Int8>.self, #"{"value":-129}"#)
        expectDecodingError(Number<UInt>.self, #"{"value":-1}"#)
        expectDecodingError(Number<UInt64>.self, #"{"value":18446744073709551616}"#)
        expectDecodingError(Number<Int64>.self, #"{"value":9223372036854775808}"#)
        expectDecodingError(Number<Int64>.self, #"{"value":-9223372036854775809}"#)
        expectDecodingError(Number<Int>.self, #"{"value":1.5}"#)
        expectDecodingError(Number<Int>.self, #"{"value":1e30}"#)
        expectDecodingError(Number<Double>.self, #"{"value":1e400}"#)
        expectDecodingError(Number<Float>.self, #"{"value":1e39}"#)
        expectDecodingError(Number<Bool>.self, #"{"value":1}"#)
        expectDecodingError(Number<Int>.self, #"{"value":"1"}"#)
        expectDecodingError(Number<String>.self, #"{"value":true}"#)
        expectDecodingError(Number<Data>.self, #"{"value":"not base64!"}"#)
        expectDecodingError(Number<Date>.self, #"{"value":"2024-01-01"}"#)
        expectDecodingError(Number<URL>.self, #"{"value":3}"#)
        expectDecodingError([Int].self, "[1,2")
        expectDecodingError(Shape.self, #"{"triangle":{}}"#)
    }

    @Test func unkeyedContainersReadInOrderAndStopAtTheEnd() throws {
        #expect(try PayloadDecoder.decode([Int?].self, from: Data("[1,null,3]".utf8)) == [1, nil, 3])
        #expect(try PayloadDecoder.decode([[String]].self, from: Data(#"[[],["a"],["b","c"]]"#.utf8)) == [[], ["a"], ["b", "c"]])
        #expect(throws: DecodingError.self) { try PayloadDecoder.decode(Shape.self, from: Data(#"{"rectangle":{"_0":1}}"#.utf8)) }
    }

    @Test func stringsAreEscapedAsJSONEncoderDoesAtEveryPositionOfAWord() throws {
        // The writer and the scanner check eight bytes at a time, then byte by byte: put each
        // character that needs care at every offset of a word, and before, inside and after one.
        for special in ["\"", "\\", "/", "\n", "\u{1}", "\u{1F}", "é", "😀", "\u{7F}"] {
            for offset in 0..<18 {
                let text = String(repeating: "x", count: offset) + special + String(repeating: "y", count: 17 - offset)
                let value = Text(text: text)
                #expect(
                    try PayloadEncoder.encode(value) == (try JSONEncoder().encode(value)), "\(text.debugDescription)")
                try roundTrip(value)
            }
        }
        try roundTrip(Text(text: String(repeating: "plain text, no escapes; ", count: 40)))
    }

    @Test func stringsOfEveryLengthAroundTheFastPathsRoundTripAndUnterminatedOnesFail() throws {
        // The writer copies strings under 32 bytes in one pass and longer ones by words; the
        // scanner reads eight bytes at a time into the padding after the document. Every length
        // across those limits, plain and with a character that needs care last, at the document's end.
        for length in 0..<41 {
            let plain = String(repeating: "a", count: length)
            for text in [plain, plain + "\"", plain + "é", plain + "\u{1}"] {
                let value = Text(text: text)
                #expect(
                    try PayloadEncoder.encode(value) == (try JSONEncoder().encode(value)), "\(text.debugDescription)")
                try roundTrip(value)
                #expect(try PayloadDecoder.decode(String.self, from: JSONEncoder().encode(text)) == text)
            }
            expectDecodingError(String.self, "\"" + plain)
            expectDecodingError(String.self, "\"" + plain + "\\")
            expectDecodingError(Inner.self, #"{"name":""# + plain)
        }
    }

    @Test func keysOfEveryLengthAreFound() throws {
        for length in [1, 7, 8, 9, 16, 17, 40] {
            let key = String(repeating: "k", count: length)
            let other = String(repeating: "k", count: length - 1) + "j"
            let json = #"{"\#(other)":1,"\#(key)":2}"#
            let decoded = try PayloadDecoder.decode([String: Int].self, from: Data(json.utf8))
            #expect(decoded == [key: 2, other: 1])
        }
    }

    @Test func theReusedWriterAndTapeStartEachPassClean() throws {
        // A pass that throws half way, then ordinary ones.
        #expect(throws: EncodingError.self) { try PayloadEncoder.encode([1, .nan, 3] as [Double]) }
        #expect(String(decoding: try PayloadEncoder.encode([1, 2]), as: UTF8.self) == "[1,2]")
        #expect(throws: DecodingError.self) { try PayloadDecoder.decode([Int].self, from: Data("[1,2".utf8)) }
        #expect(try PayloadDecoder.decode([Int].self, from: Data("[3]".utf8)) == [3])
        // Documents larger than the buffers a writer or tape keeps, then small ones again.
        let large = (0..<20_000).map { Inner(name: "name \($0)", tags: ["t\($0)"]) }
        try roundTrip(large)
        try roundTrip(Inner(name: "small", tags: []))
        // Nesting deeper than the frame stack and token buffer start with.
        try roundTrip(Nest.deep(100))
        // A pass inside a pass: the inner one gets a writer of its own.
        let outer = try EncodesAnother("inside")
        let json = try JSONValue.parse(PayloadEncoder.encode(outer))
        #expect(json == ["inner": ["text": "inside"], "innerJSON": #"{"text":"inside"}"#])
    }

    @Test func aKeptEncoderDoesNotSeeTheNextPass() throws {
        let keeper = EncoderKeeper()
        #expect(
            String(decoding: try PayloadEncoder.encode(KeepsItsEncoder(keeper: keeper, value: 1)), as: UTF8.self) == "1"
        )
        #expect(String(decoding: try PayloadEncoder.encode(Text(text: "next")), as: UTF8.self) == #"{"text":"next"}"#)
        // Writing through the kept encoder now fails (its pass is over) and leaves the next pass alone.
        var container = keeper.kept[0].singleValueContainer()
        #expect(throws: (any Error).self) { try container.encode(2) }
        #expect(String(decoding: try PayloadEncoder.encode(Text(text: "after")), as: UTF8.self) == #"{"text":"after"}"#)
    }
}
