/// The `Decoder` `PayloadDecoder` hands to `init(from:)`: one value of a `PayloadTape`.
///
/// Thread-safety: not thread-safe; belongs to one decoding pass.
@usableFromInline
struct PayloadDecoding: Decoder {
    /// The document.
    @usableFromInline let tape: PayloadTape
    /// The value's token.
    @usableFromInline let index: Int
    /// The keys from the top-level value to this one.
    @usableFromInline let codingPath: [any CodingKey]

    /// The decoder of token `index` of `tape`, reached through `codingPath`.
    @usableFromInline
    init(tape: PayloadTape, index: Int, codingPath: [any CodingKey]) {
        self.tape = tape
        self.index = index
        self.codingPath = codingPath
    }
    /// Always empty: `PayloadDecoder` takes no user info.
    @usableFromInline var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// The value's members, by key.
    /// - Throws: `DecodingError` when the value is not an object.
    @inlinable
    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard tape.tokens[index].kind == .object else {
            throw tape.mismatch([String: Any].self, at: index, codingPath: codingPath)
        }
        return KeyedDecodingContainer(
            PayloadKeyedDecodingContainer<Key>(tape: tape, object: index, codingPath: codingPath))
    }

    /// The value's elements, in order.
    /// - Throws: `DecodingError` when the value is not an array.
    @inlinable
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard tape.tokens[index].kind == .array else {
            throw tape.mismatch([Any].self, at: index, codingPath: codingPath)
        }
        return PayloadUnkeyedDecodingContainer(tape: tape, array: index, codingPath: codingPath)
    }

    /// The value itself.
    @inlinable
    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        PayloadSingleValueDecodingContainer(tape: tape, index: index, codingPath: codingPath)
    }
}
