/// State folded from a stream's events; `EventStream.project(_:snapshotEvery:)` replays it and
/// keeps snapshots of it for you.
///
/// ```swift
/// enum Balance: Projection {
///     static let name = "balance"
///     static let initialState = 0
///     static func apply(_ state: inout Int, _ event: StoredEvent) throws {
///         if event.type == Deposited.eventType { state += try event.decode(Deposited.self).amount }
///     }
/// }
/// let (balance, version) = try await account.project(Balance.self)
/// ```
///
/// `apply` must depend only on the state and the event: a snapshot is only a cache of the state a
/// replay from the start would give.
public protocol Projection: Sendable {
    /// The state; snapshots store it as JSON.
    associatedtype State: Codable & Sendable
    /// The snapshots' projection name; change it when `State` or `apply` changes meaning, so that
    /// older snapshots are not used.
    static var name: String { get }
    /// The state before any event.
    static var initialState: State { get }
    /// Folds one event into the state.
    static func apply(_ state: inout State, _ event: StoredEvent) throws
}
