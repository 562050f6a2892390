import Foundation

extension CandidateEvent {
    /// An event whose `data` is the JSON of `payload` and whose `type` is `E.eventType`.
    /// - Throws: `EventStoreError.invalidEvent` when the payload cannot be encoded as JSON (for
    ///   example a non-finite `Double`).
    @inlinable
    public init<E: EventPayload>(
        _ payload: E, metadata: [String: JSONValue]? = nil, idempotencyKey: String? = nil
    ) throws {
        let data: Data
        do {
            data = try PayloadEncoder.encode(payload)
        } catch {
            throw EventStoreError.invalidEvent("a '\(E.eventType)' payload could not be encoded as JSON: \(error)")
        }
        self.init(type: E.eventType, data: data, metadata: metadata, idempotencyKey: idempotencyKey)
    }
}
