/// Writes the elements of one JSON array in order.
///
/// A frame of `(-1, -1)` marks a container that could not be opened in order; see
/// `PayloadKeyedEncodingContainer`.
///
/// Thread-safety: not thread-safe; belongs to one encoding pass.
@usableFromInline
struct PayloadUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    /// The output.
    @usableFromInline let writer: PayloadWriter
    /// This array's frame.
    @usableFromInline let frame: (depth: Int, serial: Int)
    /// The keys from the top-level value to this array.
    @usableFromInline let codingPath: [any CodingKey]

    /// The container of frame `frame` of `writer`, reached through `codingPath`.
    @usableFromInline
    init(writer: PayloadWriter, frame: (depth: Int, serial: Int), codingPath: [any CodingKey]) {
        self.writer = writer
        self.frame = frame
        self.codingPath = codingPath
    }

    /// The elements written so far.
    @usableFromInline var count: Int {
        frame.depth >= 0 && frame.depth < writer.frameCount && writer.frames[frame.depth].serial == frame.serial
            ? writer.frames[frame.depth].count : 0
    }

    private var nextPath: [any CodingKey] { codingPath + [PayloadCodingKey(index: count)] }

    @inline(__always)
    private func begin() throws {
        try writer.beginElement(depth: frame.depth, serial: frame.serial)
    }

    /// Appends `null`.
    @usableFromInline mutating func encodeNil() throws {
        try begin()
        writer.writeNull()
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: Bool) throws {
        try begin()
        writer.writeBool(value)
    }
    /// Appends `value`, escaped.
    @usableFromInline mutating func encode(_ value: String) throws {
        try begin()
        writer.writeString(value)
    }
    /// Appends `value`.
    /// - Throws: `EncodingError.invalidValue` when it is not finite.
    @usableFromInline mutating func encode(_ value: Double) throws {
        let path = nextPath
        try begin()
        try writer.writeDouble(value, codingPath: path)
    }
    /// Appends `value`.
    /// - Throws: `EncodingError.invalidValue` when it is not finite.
    @usableFromInline mutating func encode(_ value: Float) throws {
        let path = nextPath
        try begin()
        try writer.writeFloat(value, codingPath: path)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: Int) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: Int8) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: Int16) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: Int32) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: Int64) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: UInt) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: UInt8) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: UInt16) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: UInt32) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`.
    @usableFromInline mutating func encode(_ value: UInt64) throws {
        try begin()
        writer.writeInteger(value)
    }
    /// Appends `value`, through its own `encode(to:)` unless `JSONEncoder` treats its type specially.
    @usableFromInline mutating func encode<T: Encodable>(_ value: T) throws {
        let index = count
        try begin()
        try writer.encodeNested(value, above: frame.depth, codingPath: codingPath + [PayloadCodingKey(index: index)])
    }

    /// Appends an object and returns its container.
    @usableFromInline mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
        -> KeyedEncodingContainer<
            NestedKey
        >
    {
        let path = nextPath
        var nested: (depth: Int, serial: Int) = (-1, -1)
        if (try? begin()) != nil { nested = writer.openNested(.object) }
        return KeyedEncodingContainer(
            PayloadKeyedEncodingContainer<NestedKey>(writer: writer, frame: nested, codingPath: path))
    }

    /// Appends an array and returns its container.
    @usableFromInline mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = nextPath
        var nested: (depth: Int, serial: Int) = (-1, -1)
        if (try? begin()) != nil { nested = writer.openNested(.array) }
        return PayloadUnkeyedEncodingContainer(writer: writer, frame: nested, codingPath: path)
    }

    /// An encoder for the next element.
    @usableFromInline mutating func superEncoder() -> any Encoder {
        let path = nextPath
        var slot: (depth: Int, serial: Int) = (-1, -1)
        if (try? begin()) != nil { slot = writer.push(.slot) }
        return PayloadEncoding(writer: writer, slot: slot, codingPath: path)
    }
}
