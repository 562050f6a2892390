import Foundation

/// Encodes `Encodable` values as compact JSON, as Foundation's `JSONEncoder` does with its default
/// strategies, but writing bytes straight into one buffer instead of building a tree first.
///
/// The output is what `JSONDecoder` reads back to an equal value: keys in encoding order, `/`
/// escaped as `\/`, `Data` as base64, `Date` as its `Double` (deferred to `Date`), `URL` as its
/// absolute string, `Decimal` as a number, and a non-finite floating-point value an error.
///
/// Containers are written as they are used, which is how synthesized `Codable` and nearly all
/// hand-written conformances use them. A conformance that writes into a container after a later
/// sibling was started (legal, and kept by `JSONEncoder`'s tree) makes the streaming pass give up;
/// the value is then encoded by `JSONEncoder` itself, so the result is the same, only slower.
///
/// Thread-safety: stateless; call from any task.
@usableFromInline
enum PayloadEncoder {
    /// The JSON of `value`.
    /// - Throws: `EncodingError.invalidValue` for a non-finite floating-point value or a value that
    ///   encodes nothing, or what `value.encode(to:)` throws.
    /// - Complexity: O(n) in the size of the output.
    @inlinable
    static func encode<T: Encodable>(_ value: T) throws -> Data {
        // The writer and its buffers are reused from one event to the next: allocating them took
        // more time than writing a small payload.
        var writer = PayloadWriter.spare.take() ?? PayloadWriter()
        defer {
            if isKnownUniquelyReferenced(&writer), writer.isReusable {
                writer.reset()
                PayloadWriter.spare.put(writer)
            }
        }
        do {
            try writer.encodeTopLevel(value)
            let output = writer.output
            return Data(bytes: output.baseAddress!, count: output.count)  // safe: JSON is at least one byte
        } catch is PayloadWriter.OutOfOrder {
            return try JSONEncoder().encode(value)
        } catch {
            // A conformance may catch the streaming pass's give-up and throw something else.
            if writer.isOutOfOrder { return try JSONEncoder().encode(value) }
            throw error
        }
    }
}
