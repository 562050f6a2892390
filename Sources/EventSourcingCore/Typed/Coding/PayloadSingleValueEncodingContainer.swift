/// Writes one JSON value into a slot.
///
/// Thread-safety: not thread-safe; belongs to one encoding pass.
@usableFromInline
struct PayloadSingleValueEncodingContainer: SingleValueEncodingContainer {
    /// The output.
    @usableFromInline let writer: PayloadWriter
    /// The slot frame the value goes into.
    @usableFromInline let slot: (depth: Int, serial: Int)
    /// The keys from the top-level value to this one.
    @usableFromInline let codingPath: [any CodingKey]

    /// The container of slot frame `slot` of `writer`, reached through `codingPath`.
    @usableFromInline
    init(writer: PayloadWriter, slot: (depth: Int, serial: Int), codingPath: [any CodingKey]) {
        self.writer = writer
        self.slot = slot
        self.codingPath = codingPath
    }

    @inlinable @inline(__always)
    func begin() throws {
        try writer.beginSingleValue(depth: slot.depth, serial: slot.serial)
    }

    /// Writes `null`.
    @inlinable mutating func encodeNil() throws {
        try begin()
        writer.writeNull()
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: Bool) throws {
        try begin()
        writer.writeBool(value)
    }
    /// Writes `value`, escaped.
    @inlinable mutating func encode(_ value: String) throws {
        try begin()
        writer.writeString(value)
    }
    /// Writes `value`.
    /// - Throws: `EncodingError.invalidValue` when it is not finite.
    @inlinable mutating func encode(_ value: Double) throws {
        try begin()
        try writer.writeDouble(value, codingPath: codingPath)
    }
    /// Writes `value`.
    /// - Throws: `EncodingError.invalidValue` when it is not finite.
    @inlinable mutating func encode(_ value: Float) throws {
        try begin()
        try writer.writeFloat(value, codingPath: codingPath)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: Int) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: Int8) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: Int16) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: Int32) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: Int64) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: UInt) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: UInt8) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: UInt16) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: UInt32) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`.
    @inlinable mutating func encode(_ value: UInt64) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Writes `value`, through its own `encode(to:)` unless `JSONEncoder` treats its type specially.
    @inlinable mutating func encode<T: Encodable>(_ value: T) throws {
        try begin()
        try writer.encodeNested(value, above: slot.depth, codingPath: codingPath)
    }
}
