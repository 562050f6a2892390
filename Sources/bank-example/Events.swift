import EventSourcing

/// An account was opened for `owner`.
struct AccountOpened: EventPayload {
    static let eventType = "AccountOpened"
    var owner: String
}

/// Money came in (a deposit, or the receiving half of a transfer).
struct Deposited: EventPayload {
    static let eventType = "Deposited"
    var amount: Int
    var transfer: String?
}

/// Money went out (a withdrawal, or the sending half of a transfer).
struct Withdrawn: EventPayload {
    static let eventType = "Withdrawn"
    var amount: Int
    var transfer: String?
}

/// An account's balance, folded from its events; `project` keeps snapshots of it.
enum Balance: Projection {
    static let name = "balance"
    static let initialState = 0
    static func apply(_ state: inout Int, _ event: StoredEvent) throws {
        switch event.type {
        case Deposited.eventType: state += try event.decode(Deposited.self).amount
        case Withdrawn.eventType: state -= try event.decode(Withdrawn.self).amount
        default: break
        }
    }
}
