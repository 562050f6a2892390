/// Writes the members of one JSON object, keys in the order they are encoded.
///
/// A frame of `(-1, -1)` marks a container that could not be opened in order: every use throws
/// `PayloadWriter.OutOfOrder`, and the encoder falls back to `JSONEncoder`.
///
/// Thread-safety: not thread-safe; belongs to one encoding pass.
@usableFromInline
struct PayloadKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    /// The output.
    @usableFromInline let writer: PayloadWriter
    /// This object's frame.
    @usableFromInline let frame: (depth: Int, serial: Int)
    /// The keys from the top-level value to this object.
    @usableFromInline let codingPath: [any CodingKey]

    /// The container of frame `frame` of `writer`, reached through `codingPath`.
    @usableFromInline
    init(writer: PayloadWriter, frame: (depth: Int, serial: Int), codingPath: [any CodingKey]) {
        self.writer = writer
        self.frame = frame
        self.codingPath = codingPath
    }

    @inlinable @inline(__always)
    func begin(_ key: Key) throws {
        try writer.beginMember(depth: frame.depth, serial: frame.serial, key: key.stringValue)
    }

    /// Writes `null` under `key`.
    @inlinable mutating func encodeNil(forKey key: Key) throws {
        try begin(key)
        writer.writeNull()
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: Bool, forKey key: Key) throws {
        try begin(key)
        writer.writeBool(value)
    }
    /// Writes `value` under `key`, escaped.
    @inlinable mutating func encode(_ value: String, forKey key: Key) throws {
        try begin(key)
        writer.writeString(value)
    }
    /// Writes `value` under `key`.
    /// - Throws: `EncodingError.invalidValue` when it is not finite.
    @inlinable mutating func encode(_ value: Double, forKey key: Key) throws {
        try begin(key)
        try writer.writeDouble(value, codingPath: codingPath + [key])
    }
    /// Writes `value` under `key`.
    /// - Throws: `EncodingError.invalidValue` when it is not finite.
    @inlinable mutating func encode(_ value: Float, forKey key: Key) throws {
        try begin(key)
        try writer.writeFloat(value, codingPath: codingPath + [key])
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: Int, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: Int8, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: Int16, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: Int32, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: Int64, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: UInt, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: UInt8, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: UInt16, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: UInt32, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`.
    @inlinable mutating func encode(_ value: UInt64, forKey key: Key) throws {
        try begin(key)
        writer.writeInteger(value)
    }
    /// Writes `value` under `key`, through its own `encode(to:)` unless `JSONEncoder` treats its
    /// type specially.
    @inlinable mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try begin(key)
        try writer.encodeNested(value, above: frame.depth, codingPath: codingPath + [key])
    }

    /// Starts an object under `key` and returns its container.
    @usableFromInline mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        var nested: (depth: Int, serial: Int) = (-1, -1)
        if (try? begin(key)) != nil { nested = writer.openNested(.object) }
        return KeyedEncodingContainer(
            PayloadKeyedEncodingContainer<NestedKey>(writer: writer, frame: nested, codingPath: codingPath + [key]))
    }

    /// Starts an array under `key` and returns its container.
    @usableFromInline mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        var nested: (depth: Int, serial: Int) = (-1, -1)
        if (try? begin(key)) != nil { nested = writer.openNested(.array) }
        return PayloadUnkeyedEncodingContainer(writer: writer, frame: nested, codingPath: codingPath + [key])
    }

    /// An encoder for the value under `"super"`.
    @usableFromInline mutating func superEncoder() -> any Encoder {
        superEncoder(key: PayloadCodingKey.super)
    }

    /// An encoder for the value under `key`.
    @usableFromInline mutating func superEncoder(forKey key: Key) -> any Encoder {
        superEncoder(key: key)
    }

    @usableFromInline func superEncoder(key: any CodingKey) -> any Encoder {
        var slot: (depth: Int, serial: Int) = (-1, -1)
        if (try? writer.beginMember(depth: frame.depth, serial: frame.serial, key: key.stringValue)) != nil {
            slot = writer.push(.slot)
        }
        return PayloadEncoding(writer: writer, slot: slot, codingPath: codingPath + [key])
    }
}
