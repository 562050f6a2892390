/// Reads one JSON value.
///
/// Thread-safety: not thread-safe; belongs to one decoding pass.
@usableFromInline
struct PayloadSingleValueDecodingContainer: SingleValueDecodingContainer {
    /// The document.
    @usableFromInline let tape: PayloadTape
    /// The value's token.
    @usableFromInline let index: Int
    /// The keys from the top-level value to this one.
    @usableFromInline let codingPath: [any CodingKey]

    /// The container of token `index` of `tape`, reached through `codingPath`.
    @usableFromInline
    init(tape: PayloadTape, index: Int, codingPath: [any CodingKey]) {
        self.tape = tape
        self.index = index
        self.codingPath = codingPath
    }

    /// Whether the value is `null`.
    @inlinable func decodeNil() -> Bool { tape.tokens[index].kind == .null }

    /// The value as a `Bool`.
    @inlinable func decode(_ type: Bool.Type) throws -> Bool { try tape.decodeBool(at: index, codingPath: codingPath) }
    /// The value as a `String`.
    @inlinable func decode(_ type: String.Type) throws -> String {
        try tape.decodeString(at: index, codingPath: codingPath)
    }
    /// The value as a `Double`.
    @inlinable func decode(_ type: Double.Type) throws -> Double {
        try tape.decodeDouble(at: index, codingPath: codingPath)
    }
    /// The value as a `Float`.
    @inlinable func decode(_ type: Float.Type) throws -> Float {
        try tape.decodeFloat(at: index, codingPath: codingPath)
    }
    /// The value as an `Int`.
    @inlinable func decode(_ type: Int.Type) throws -> Int {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as an `Int8`.
    @inlinable func decode(_ type: Int8.Type) throws -> Int8 {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as an `Int16`.
    @inlinable func decode(_ type: Int16.Type) throws -> Int16 {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as an `Int32`.
    @inlinable func decode(_ type: Int32.Type) throws -> Int32 {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as an `Int64`.
    @inlinable func decode(_ type: Int64.Type) throws -> Int64 {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as a `UInt`.
    @inlinable func decode(_ type: UInt.Type) throws -> UInt {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as a `UInt8`.
    @inlinable func decode(_ type: UInt8.Type) throws -> UInt8 {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as a `UInt16`.
    @inlinable func decode(_ type: UInt16.Type) throws -> UInt16 {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as a `UInt32`.
    @inlinable func decode(_ type: UInt32.Type) throws -> UInt32 {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as a `UInt64`.
    @inlinable func decode(_ type: UInt64.Type) throws -> UInt64 {
        try tape.decodeInteger(type, at: index, codingPath: codingPath)
    }
    /// The value as a `T`.
    @inlinable func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try tape.decodeValue(type, at: index, codingPath: codingPath)
    }
}
