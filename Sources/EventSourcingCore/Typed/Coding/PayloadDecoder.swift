import Foundation

/// Decodes `Decodable` values from JSON as Foundation's `JSONDecoder` does with its default
/// strategies, reading the bytes through a token tape instead of building a tree of values.
///
/// It reads what `JSONEncoder` writes and ordinary JSON from other writers: keys in any order,
/// white space, every escape (surrogate pairs included), numbers with fractions and exponents into
/// floating-point types, integers into any width with range checks. `Data` is read from base64,
/// `Date` from a `Double` (deferred to `Date`), `URL` from a string and `Decimal` from a number.
/// `decodeIfPresent` gives `nil` for a missing key and for `null`. Duplicate keys: the lookup finds
/// one of them (the last, for objects of more than 32 members).
///
/// Thread-safety: stateless; call from any task.
@usableFromInline
enum PayloadDecoder {
    /// The value of type `T` in `data`.
    /// - Throws: `DecodingError` when `data` is not JSON or not JSON of a `T`, or what `T(from:)`
    ///   throws.
    /// - Complexity: O(n) in the size of `data`, plus what `T(from:)` does.
    @inlinable
    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        // The tape and its buffers are reused from one event to the next: allocating them took
        // more time than reading a small payload.
        var tape = PayloadTape.spare.take() ?? PayloadTape()
        defer {
            if isKnownUniquelyReferenced(&tape), tape.isReusable { PayloadTape.spare.put(tape) }
        }
        try tape.load(data)
        return try tape.decodeValue(T.self, at: 0, codingPath: [])
    }
}
