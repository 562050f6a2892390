/// The `Decoder` `PayloadDecoder` hands to `init(from:)`: one value of a `PayloadTape`.
///
/// Thread-safety: not thread-safe; belongs to one decoding pass.
struct PayloadDecoding: Decoder {
    /// The document.
    let tape: PayloadTape
    /// The value's token.
    let index: Int
    /// The keys from the top-level value to this one.
    let codingPath: [any CodingKey]
    /// Always empty: `PayloadDecoder` takes no user info.
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// The value's members, by key.
    /// - Throws: `DecodingError` when the value is not an object.
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard tape.tokens[index].kind == .object else {
            throw tape.mismatch([String: Any].self, at: index, codingPath: codingPath)
        }
        return KeyedDecodingContainer(PayloadKeyedDecodingContainer<Key>(tape: tape, object: index, codingPath: codingPath))
    }

    /// The value's elements, in order.
    /// - Throws: `DecodingError` when the value is not an array.
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard tape.tokens[index].kind == .array else {
            throw tape.mismatch([Any].self, at: index, codingPath: codingPath)
        }
        return PayloadUnkeyedDecodingContainer(tape: tape, array: index, codingPath: codingPath)
    }

    /// The value itself.
    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        PayloadSingleValueDecodingContainer(tape: tape, index: index, codingPath: codingPath)
    }
}
