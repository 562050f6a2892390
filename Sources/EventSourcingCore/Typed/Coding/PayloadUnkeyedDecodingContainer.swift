/// Reads the elements of one JSON array in order.
///
/// A failed `decode` leaves `currentIndex` where it was, as `JSONDecoder`'s does.
///
/// Thread-safety: not thread-safe; belongs to one decoding pass.
@usableFromInline
struct PayloadUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    /// The document.
    @usableFromInline let tape: PayloadTape
    /// The keys from the top-level value to this array.
    @usableFromInline let codingPath: [any CodingKey]
    /// The number of elements.
    @usableFromInline let count: Int?
    /// The index of the next element.
    @usableFromInline private(set) var currentIndex = 0
    /// The token of the next element.
    private var token: Int

    /// The elements of the array at token `array`.
    @usableFromInline init(tape: PayloadTape, array: Int, codingPath: [any CodingKey]) {
        self.tape = tape
        self.codingPath = codingPath
        self.count = Int(tape.tokens[array].count)
        self.token = array + 1
    }

    /// Whether every element was read.
    @usableFromInline var isAtEnd: Bool { currentIndex >= count! }  // safe: count is always set

    private var path: [any CodingKey] { codingPath + [PayloadCodingKey(index: currentIndex)] }

    /// The next element's token.
    /// - Throws: `DecodingError.valueNotFound` at the end.
    @inline(__always)
    private func next(_ type: Any.Type) throws -> Int {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                type, DecodingError.Context(codingPath: path, debugDescription: "Unkeyed container is at end."))
        }
        return token
    }

    @inline(__always)
    private mutating func advance() {
        token = Int(tape.tokens[token].next)
        currentIndex += 1
    }

    /// Reads a `null` and returns true, or returns false and reads nothing.
    /// - Throws: `DecodingError.valueNotFound` at the end.
    @usableFromInline mutating func decodeNil() throws -> Bool {
        guard tape.tokens[try next(Never?.self)].kind == .null else { return false }
        advance()
        return true
    }

    @inline(__always)
    private mutating func read<T>(
        _ type: T.Type, _ body: (PayloadTape, Int, [any CodingKey]) throws -> T
    ) throws -> T {
        let index = try next(type)
        let value = try body(tape, index, path)
        advance()
        return value
    }

    /// The next `Bool`.
    @usableFromInline mutating func decode(_ type: Bool.Type) throws -> Bool {
        try read(type) { try $0.decodeBool(at: $1, codingPath: $2) }
    }
    /// The next `String`.
    @usableFromInline mutating func decode(_ type: String.Type) throws -> String {
        try read(type) { try $0.decodeString(at: $1, codingPath: $2) }
    }
    /// The next `Double`.
    @usableFromInline mutating func decode(_ type: Double.Type) throws -> Double {
        try read(type) { try $0.decodeDouble(at: $1, codingPath: $2) }
    }
    /// The next `Float`.
    @usableFromInline mutating func decode(_ type: Float.Type) throws -> Float {
        try read(type) { try $0.decodeFloat(at: $1, codingPath: $2) }
    }
    /// The next `Int`.
    @usableFromInline mutating func decode(_ type: Int.Type) throws -> Int {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `Int8`.
    @usableFromInline mutating func decode(_ type: Int8.Type) throws -> Int8 {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `Int16`.
    @usableFromInline mutating func decode(_ type: Int16.Type) throws -> Int16 {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `Int32`.
    @usableFromInline mutating func decode(_ type: Int32.Type) throws -> Int32 {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `Int64`.
    @usableFromInline mutating func decode(_ type: Int64.Type) throws -> Int64 {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `UInt`.
    @usableFromInline mutating func decode(_ type: UInt.Type) throws -> UInt {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `UInt8`.
    @usableFromInline mutating func decode(_ type: UInt8.Type) throws -> UInt8 {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `UInt16`.
    @usableFromInline mutating func decode(_ type: UInt16.Type) throws -> UInt16 {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `UInt32`.
    @usableFromInline mutating func decode(_ type: UInt32.Type) throws -> UInt32 {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `UInt64`.
    @usableFromInline mutating func decode(_ type: UInt64.Type) throws -> UInt64 {
        try read(type) { try $0.decodeInteger(type, at: $1, codingPath: $2) }
    }
    /// The next `T`.
    @usableFromInline mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try read(type) { try $0.decodeValue(type, at: $1, codingPath: $2) }
    }

    /// The members of the next element, an object.
    @usableFromInline mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try read(KeyedDecodingContainer<NestedKey>.self) {
            try PayloadDecoding(tape: $0, index: $1, codingPath: $2).container(keyedBy: type)
        }
    }

    /// The elements of the next element, an array.
    @usableFromInline mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try read((any UnkeyedDecodingContainer).self) {
            try PayloadDecoding(tape: $0, index: $1, codingPath: $2).unkeyedContainer()
        }
    }

    /// A decoder for the next element.
    @usableFromInline mutating func superDecoder() throws -> any Decoder {
        try read((any Decoder).self) { PayloadDecoding(tape: $0, index: $1, codingPath: $2) }
    }
}
