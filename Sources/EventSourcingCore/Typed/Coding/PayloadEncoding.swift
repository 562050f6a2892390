/// The `Encoder` `PayloadEncoder` hands to `encode(to:)`: one value position in a `PayloadWriter`.
///
/// Thread-safety: not thread-safe; valid only during the `encode(to:)` call it is passed to.
@usableFromInline
struct PayloadEncoding: Encoder {
    /// The output.
    @usableFromInline let writer: PayloadWriter
    /// The depth of the slot frame this encoder writes into.
    @usableFromInline let slotDepth: Int32
    /// The serial of the slot frame.
    @usableFromInline let slotSerial: Int32
    /// The keys from the top-level value to this one.
    @usableFromInline let codingPath: [any CodingKey]

    /// An encoder for the value of slot frame `slot`. The frame is kept in two 32-bit halves, so
    /// that the encoder fits an existential's inline buffer and `any Encoder` allocates no box; a
    /// frame past that range (a document of billions of containers) gives an encoder whose every
    /// use throws `PayloadWriter.OutOfOrder`, and `JSONEncoder` does the work.
    @inlinable
    init(writer: PayloadWriter, slot: (depth: Int, serial: Int), codingPath: [any CodingKey]) {
        self.writer = writer
        if let depth = Int32(exactly: slot.depth), let serial = Int32(exactly: slot.serial) {
            (slotDepth, slotSerial) = (depth, serial)
        } else {
            (slotDepth, slotSerial) = (-1, -1)
        }
        self.codingPath = codingPath
    }

    /// The slot frame this encoder writes into.
    @inlinable var slot: (depth: Int, serial: Int) { (Int(slotDepth), Int(slotSerial)) }
    /// Always empty: `PayloadEncoder` takes no user info.
    @usableFromInline var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// A container writing this value as a JSON object.
    @inlinable
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let frame = try? writer.openContainer(.object, inSlot: slot.depth, serial: slot.serial)
        return KeyedEncodingContainer(
            PayloadKeyedEncodingContainer<Key>(writer: writer, frame: frame ?? (-1, -1), codingPath: codingPath))
    }

    /// A container writing this value as a JSON array.
    @inlinable
    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let frame = try? writer.openContainer(.array, inSlot: slot.depth, serial: slot.serial)
        return PayloadUnkeyedEncodingContainer(writer: writer, frame: frame ?? (-1, -1), codingPath: codingPath)
    }

    /// A container writing this value as a single JSON value.
    @inlinable
    func singleValueContainer() -> any SingleValueEncodingContainer {
        PayloadSingleValueEncodingContainer(writer: writer, slot: slot, codingPath: codingPath)
    }
}
