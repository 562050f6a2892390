import EventSourcing
import Foundation

try await LogEventStore.withStore(directory: "orders-store") { store in
    let stream = try await store.stream("order-42")
    let version = try await stream.write([CandidateEvent(type: "Placed", data: Data("{}".utf8))])
    try await stream.write(CandidateEvent(type: "Paid"), expectedVersion: .exact(version))

    for try await event in stream.read() { print(event.version, event.type) }

    // Everything, across streams, filtered:
    let all = try await store.stream("@all")
    for try await event in all.read(filter: EventFilter([.like("stream_id", "order-%")])) { print(event.sequenceID) }

    // History after version 1, then live events, until the loop breaks or the store closes:
    for try await event in stream.watch(from: 1) { if event.version == 2 { break } }

    // Several streams at once, all or nothing (a conflict on either stores neither):
    try await store.write([
        StreamWrite("account-1", [CandidateEvent(type: "Debited")], expectedVersion: .noStream),
        StreamWrite("account-2", [CandidateEvent(type: "Credited")]),
    ])

    // A durable subscription: a projector that resumes after its last acknowledgement, even after
    // a crash; one consumer per name across processes.
    let projector = try await store.subscribe("order-projector")
    for try await event in projector.events() {
        print("projecting", event.sequenceID)
        try await projector.acknowledge(event)      // durable when it returns
        if event.sequenceID == 4 { break }
    }
    try await projector.close()

    // Snapshots of a projection:
    try await stream.snapshot(Data("state".utf8), projection: "totals")
    let snapshot = try await stream.loadSnapshot(projection: "totals")
    print(snapshot?.version ?? 0)
}
