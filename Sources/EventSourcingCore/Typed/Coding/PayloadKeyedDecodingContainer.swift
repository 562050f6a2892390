/// Reads the members of one JSON object by key.
///
/// Thread-safety: not thread-safe; belongs to one decoding pass.
@usableFromInline
struct PayloadKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    /// The document.
    @usableFromInline let tape: PayloadTape
    /// The object's token.
    @usableFromInline let object: Int
    /// The keys from the top-level value to this object.
    @usableFromInline let codingPath: [any CodingKey]

    /// The container of object token `object` of `tape`, reached through `codingPath`.
    @usableFromInline
    init(tape: PayloadTape, object: Int, codingPath: [any CodingKey]) {
        self.tape = tape
        self.object = object
        self.codingPath = codingPath
    }

    /// The object's keys that `Key` can represent, in document order.
    @usableFromInline var allKeys: [Key] {
        var keys: [Key] = []
        keys.reserveCapacity(Int(tape.tokens[object].count))
        var member = object + 1
        let end = Int(tape.tokens[object].next)
        while member < end {
            if let name = try? tape.string(at: member), let key = Key(stringValue: name) { keys.append(key) }
            member = Int(tape.tokens[member + 1].next)
        }
        return keys
    }

    /// Whether the object has a member `key` (even if it is `null`).
    @usableFromInline func contains(_ key: Key) -> Bool { tape.find(key.stringValue, in: object) != nil }

    @inlinable @inline(__always)
    func value(_ key: Key) throws -> Int {
        guard let index = tape.find(key.stringValue, in: object) else {
            throw DecodingError.keyNotFound(
                key,
                DecodingError.Context(
                    codingPath: codingPath,
                    debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return index
    }

    /// Whether the member `key` is `null`.
    /// - Throws: `DecodingError.keyNotFound` when there is no such member.
    @inlinable func decodeNil(forKey key: Key) throws -> Bool { tape.tokens[try value(key)].kind == .null }

    /// The `Bool` under `key`.
    @inlinable func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try tape.decodeBool(at: try value(key), codingPath: codingPath + [key])
    }
    /// The `String` under `key`.
    @inlinable func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try tape.decodeString(at: try value(key), codingPath: codingPath + [key])
    }
    /// The `Double` under `key`.
    @inlinable func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try tape.decodeDouble(at: try value(key), codingPath: codingPath + [key])
    }
    /// The `Float` under `key`.
    @inlinable func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try tape.decodeFloat(at: try value(key), codingPath: codingPath + [key])
    }
    /// The `Int` under `key`.
    @inlinable func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `Int8` under `key`.
    @inlinable func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `Int16` under `key`.
    @inlinable func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `Int32` under `key`.
    @inlinable func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `Int64` under `key`.
    @inlinable func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `UInt` under `key`.
    @inlinable func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `UInt8` under `key`.
    @inlinable func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `UInt16` under `key`.
    @inlinable func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `UInt32` under `key`.
    @inlinable func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `UInt64` under `key`.
    @inlinable func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 {
        try tape.decodeInteger(type, at: try value(key), codingPath: codingPath + [key])
    }
    /// The `T` under `key`.
    @inlinable func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try tape.decodeValue(type, at: try value(key), codingPath: codingPath + [key])
    }

    /// The member `key` unless it is missing or `null`: one lookup instead of `contains`,
    /// `decodeNil` and `decode`.
    @inlinable @inline(__always)
    func present(_ key: Key) -> Int? {
        guard let index = tape.find(key.stringValue, in: object), tape.tokens[index].kind != .null else { return nil }
        return index
    }

    /// The `Bool` under `key`, or nil when it is missing or `null`.
    @inlinable func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let index = present(key) else { return nil }
        return try tape.decodeBool(at: index, codingPath: codingPath + [key])
    }
    /// The `String` under `key`, or nil when it is missing or `null`.
    @inlinable func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        guard let index = present(key) else { return nil }
        return try tape.decodeString(at: index, codingPath: codingPath + [key])
    }
    /// The `Double` under `key`, or nil when it is missing or `null`.
    @inlinable func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        guard let index = present(key) else { return nil }
        return try tape.decodeDouble(at: index, codingPath: codingPath + [key])
    }
    /// The `Int` under `key`, or nil when it is missing or `null`.
    @inlinable func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
        guard let index = present(key) else { return nil }
        return try tape.decodeInteger(type, at: index, codingPath: codingPath + [key])
    }
    /// The `T` under `key`, or nil when it is missing or `null`.
    @inlinable func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let index = present(key) else { return nil }
        return try tape.decodeValue(type, at: index, codingPath: codingPath + [key])
    }

    /// The members of the object under `key`.
    /// - Throws: `DecodingError` when it is missing or not an object.
    @usableFromInline func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type, forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try PayloadDecoding(tape: tape, index: try value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    /// The elements of the array under `key`.
    /// - Throws: `DecodingError` when it is missing or not an array.
    @usableFromInline func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try PayloadDecoding(tape: tape, index: try value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    /// A decoder for the member `"super"`.
    /// - Throws: `DecodingError.keyNotFound` when there is no such member.
    @usableFromInline func superDecoder() throws -> any Decoder {
        guard let index = tape.find(PayloadCodingKey.super.stringValue, in: object) else {
            throw DecodingError.keyNotFound(
                PayloadCodingKey.super,
                DecodingError.Context(
                    codingPath: codingPath, debugDescription: "No value associated with key \"super\"."))
        }
        return PayloadDecoding(tape: tape, index: index, codingPath: codingPath + [PayloadCodingKey.super])
    }

    /// A decoder for the member `key`.
    /// - Throws: `DecodingError.keyNotFound` when there is no such member.
    @usableFromInline func superDecoder(forKey key: Key) throws -> any Decoder {
        PayloadDecoding(tape: tape, index: try value(key), codingPath: codingPath + [key])
    }
}
