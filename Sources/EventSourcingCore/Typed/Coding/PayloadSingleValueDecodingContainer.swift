/// Reads one JSON value.
///
/// Thread-safety: not thread-safe; belongs to one decoding pass.
struct PayloadSingleValueDecodingContainer: SingleValueDecodingContainer {
    /// The document.
    let tape: PayloadTape
    /// The value's token.
    let index: Int
    /// The keys from the top-level value to this one.
    let codingPath: [any CodingKey]

    /// Whether the value is `null`.
    func decodeNil() -> Bool { tape.tokens[index].kind == .null }

    /// The value as a `Bool`.
    func decode(_ type: Bool.Type) throws -> Bool { try tape.decodeBool(at: index, codingPath: codingPath) }
    /// The value as a `String`.
    func decode(_ type: String.Type) throws -> String { try tape.decodeString(at: index, codingPath: codingPath) }
    /// The value as a `Double`.
    func decode(_ type: Double.Type) throws -> Double { try tape.decodeDouble(at: index, codingPath: codingPath) }
    /// The value as a `Float`.
    func decode(_ type: Float.Type) throws -> Float { try tape.decodeFloat(at: index, codingPath: codingPath) }
    /// The value as an `Int`.
    func decode(_ type: Int.Type) throws -> Int { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as an `Int8`.
    func decode(_ type: Int8.Type) throws -> Int8 { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as an `Int16`.
    func decode(_ type: Int16.Type) throws -> Int16 { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as an `Int32`.
    func decode(_ type: Int32.Type) throws -> Int32 { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as an `Int64`.
    func decode(_ type: Int64.Type) throws -> Int64 { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as a `UInt`.
    func decode(_ type: UInt.Type) throws -> UInt { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as a `UInt8`.
    func decode(_ type: UInt8.Type) throws -> UInt8 { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as a `UInt16`.
    func decode(_ type: UInt16.Type) throws -> UInt16 { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as a `UInt32`.
    func decode(_ type: UInt32.Type) throws -> UInt32 { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as a `UInt64`.
    func decode(_ type: UInt64.Type) throws -> UInt64 { try tape.decodeInteger(type, at: index, codingPath: codingPath) }
    /// The value as a `T`.
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try tape.decodeValue(type, at: index, codingPath: codingPath) }
}
