/// A `Codable` event payload with a stable type name: `CandidateEvent(payload)` stores it as JSON
/// under `eventType`, and `StoredEvent.decode(_:)` gives it back.
///
/// ```swift
/// struct Deposited: EventPayload {
///     static let eventType = "Deposited"
///     var amount: Int
/// }
/// try await account.write(CandidateEvent(Deposited(amount: 10)))
/// ```
///
/// Keep `eventType` stable once events are stored: it is how stored events find their type.
public protocol EventPayload: Codable, Sendable {
    /// The type name stored with every event of this payload.
    static var eventType: String { get }
}
