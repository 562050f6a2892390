/// The `Encoder` `PayloadEncoder` hands to `encode(to:)`: one value position in a `PayloadWriter`.
///
/// Thread-safety: not thread-safe; valid only during the `encode(to:)` call it is passed to.
struct PayloadEncoding: Encoder {
    /// The output.
    let writer: PayloadWriter
    /// The slot frame this encoder writes into.
    let slot: (depth: Int, serial: Int)
    /// The keys from the top-level value to this one.
    let codingPath: [any CodingKey]
    /// Always empty: `PayloadEncoder` takes no user info.
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// A container writing this value as a JSON object.
    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let frame = try? writer.openContainer(.object, inSlot: slot.depth, serial: slot.serial)
        return KeyedEncodingContainer(
            PayloadKeyedEncodingContainer<Key>(writer: writer, frame: frame ?? (-1, -1), codingPath: codingPath))
    }

    /// A container writing this value as a JSON array.
    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let frame = try? writer.openContainer(.array, inSlot: slot.depth, serial: slot.serial)
        return PayloadUnkeyedEncodingContainer(writer: writer, frame: frame ?? (-1, -1), codingPath: codingPath)
    }

    /// A container writing this value as a single JSON value.
    func singleValueContainer() -> any SingleValueEncodingContainer {
        PayloadSingleValueEncodingContainer(writer: writer, slot: slot, codingPath: codingPath)
    }
}
