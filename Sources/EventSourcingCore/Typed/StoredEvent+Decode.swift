import Foundation

extension StoredEvent {
    /// The payload of this event, decoded from its JSON `data`.
    /// - Throws: `EventStoreError.invalidEvent` when `type` is not `E.eventType`, or when `data`
    ///   is not JSON of `E`.
    @inlinable
    public func decode<E: EventPayload>(_ type: E.Type) throws -> E {
        guard self.type == E.eventType else {
            throw EventStoreError.invalidEvent(
                "event \(version) of '\(streamID)' has type '\(self.type)', not '\(E.eventType)'")
        }
        do {
            return try PayloadDecoder.decode(E.self, from: data)
        } catch {
            throw EventStoreError.invalidEvent(
                "event \(version) of '\(streamID)' is not the JSON of a '\(E.eventType)': \(error)")
        }
    }
}
