import EventSourcing
import EventSourcingTestSupport
import Foundation
import Testing

@Suite("Durable subscriptions") struct SubscriptionTests {
    /// Takes `count` events of the subscription's `events()`, acknowledging each one after taking it
    /// when `acknowledging`.
    static func take(_ count: Int, of subscription: Subscription, acknowledging: Bool = false) -> Task<
        [StoredEvent], Error
    > {
        Task {
            var taken: [StoredEvent] = []
            guard count > 0 else { return taken }
            for try await event in subscription.events() {
                taken.append(event)
                if acknowledging { try await subscription.acknowledge(event) }
                if taken.count == count { break }
            }
            return taken
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deliversHistoryThenLiveAndResumesAfterTheAcknowledgedEvent(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let orders = try await store.stream("orders")
            try await orders.write(events("A", "B", "C"))
            let subscription = try await store.subscribe("projector")
            #expect(subscription.name == "projector")
            #expect(await subscription.position == 0)
            let taker = Self.take(5, of: subscription)
            try await store.stream("other").write(events("D"))
            try await orders.write(events("E"))
            let seen = try await withHangGuard(cancelling: taker)
            #expect(seen.map(\.type) == ["A", "B", "C", "D", "E"])
            #expect(seen.map(\.sequenceID) == [1, 2, 3, 4, 5])

            try await subscription.acknowledge(seen[1])
            #expect(await subscription.position == 2)
            try await subscription.close()

            let again = try await store.subscribe("projector")
            #expect(await again.position == 2)
            let resumed = try await withHangGuard(cancelling: Self.take(3, of: again))
            #expect(resumed.map(\.type) == ["C", "D", "E"])
            try await again.close()
        }
    }

    @Test(arguments: StoreKind.persistent)
    func thePositionSurvivesClosingAndReopeningTheStore(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        try await closing(try await fixture.open()) { store in
            try await store.stream("s").write(events("A", "B", "C", "D"))
            let subscription = try await store.subscribe("durable")
            let seen = try await withHangGuard(cancelling: Self.take(3, of: subscription, acknowledging: true))
            #expect(seen.map(\.type) == ["A", "B", "C"])
            // Not closed: closing the store lets go of it.
        }
        try await closing(try await fixture.open()) { store in
            let subscription = try await store.subscribe("durable")
            #expect(await subscription.position == 3)
            #expect(try await withHangGuard(cancelling: Self.take(1, of: subscription)).map(\.type) == ["D"])
            #expect(try await store.subscriptions() == [SubscriptionInfo(name: "durable", stream: "@all", position: 3, lag: 1)])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func startsAtTheBeginningTheEndOrAfterAPosition(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A", "B", "C"))
            let fromEnd = try await store.subscribe("from-end", options: .init(start: .end))
            #expect(await fromEnd.position == 3)
            let afterOne = try await store.subscribe("after-one", options: .init(stream: "s", start: .after(1)))
            #expect(await afterOne.position == 1)
            try await stream.write(events("D"))
            #expect(try await withHangGuard(cancelling: Self.take(1, of: fromEnd)).map(\.type) == ["D"])
            #expect(try await withHangGuard(cancelling: Self.take(3, of: afterOne)).map(\.type) == ["B", "C", "D"])
            // `start` applies only when the subscription is created.
            try await fromEnd.close()
            let reopened = try await store.subscribe("from-end", options: .init(start: .beginning))
            #expect(await reopened.position == 3)
            try await reopened.close()
            try await afterOne.close()

            await expectInvalidArgument {
                try await store.subscribe("too-far", options: .init(start: .after(5)))
            }
            await expectInvalidArgument {
                try await store.subscribe("negative", options: .init(start: .after(-1)))
            }
            #expect(try await store.subscriptions().map(\.name) == ["after-one", "from-end"])
        }
    }

    @Test(arguments: StoreKind.allCases)
    func theStreamAndFilterAreFixedWhenCreated(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let filter = EventFilter([.oneOf("event_type", ["A", "B"]), .like("stream_id", "ord%")])
            let options = SubscriptionOptions(stream: "orders", filter: filter)
            try await store.subscribe("fixed", options: options).close()
            try await store.subscribe("fixed", options: options).close()
            for other in [
                SubscriptionOptions(stream: "@all", filter: filter), SubscriptionOptions(stream: "orders"),
                SubscriptionOptions(stream: "orders", filter: EventFilter([.equals("event_type", "A")])),
            ] {
                await expectInvalidArgument {
                    try await store.subscribe("fixed", options: other)
                }
            }
            // A refused subscribe does not keep the name.
            try await store.subscribe("fixed", options: options).close()
        }
    }

    @Test(arguments: StoreKind.allCases)
    func oneConsumerPerNameUntilItCloses(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let first = try await store.subscribe("single")
            await expectError(.subscriptionBusy("single")) { try await store.subscribe("single") }
            await expectError(.subscriptionBusy("single")) { try await store.deleteSubscription("single") }
            try await first.close()
            try await first.close()
            let second = try await store.subscribe("single")
            try await second.close()
        }
    }

    @Test(arguments: StoreKind.allCases)
    func deletingForgetsThePosition(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.stream("s").write(events("A", "B"))
            let subscription = try await store.subscribe("gone")
            try await subscription.acknowledge(upTo: 2)
            try await subscription.close()
            try await store.deleteSubscription("gone")
            #expect(try await store.subscriptions().isEmpty)
            await expectInvalidArgument {
                try await store.deleteSubscription("gone")
            }
            let again = try await store.subscribe("gone")
            #expect(await again.position == 0)
            try await again.close()
        }
    }

    @Test(arguments: StoreKind.allCases)
    func positionsOnlyMoveForwardAndStayWithinTheStream(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("A", "B", "C"))
            try await store.stream("t").write(events("X"))
            let subscription = try await store.subscribe("forward", options: .init(stream: "s"))
            try await subscription.acknowledge(upTo: 2)
            try await subscription.acknowledge(upTo: 1)
            try await subscription.acknowledge(upTo: 2)
            #expect(await subscription.position == 2)
            let first = try await collect(stream.read()).first!
            try await subscription.acknowledge(first)
            #expect(await subscription.position == 2)
            await expectInvalidArgument {
                try await subscription.acknowledge(upTo: 4)
            }
            await expectInvalidArgument {
                try await subscription.acknowledge(upTo: -1)
            }
            let other = try await collect(try await store.stream("t").read()).first!
            await expectInvalidArgument {
                try await subscription.acknowledge(other)
            }
            try await subscription.acknowledge(upTo: 3)
            #expect(try await store.subscriptions() == [SubscriptionInfo(name: "forward", stream: "s", position: 3, lag: 0)])
            try await subscription.close()
            await expectInvalidArgument {
                try await subscription.acknowledge(upTo: 3)
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aStreamSubscriptionCountsVersions(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.stream("noise").write(events("N1", "N2", "N3"))
            try await store.stream("s").write(events("A", "B"))
            let subscription = try await store.subscribe("versions", options: .init(stream: "s"))
            let seen = try await withHangGuard(cancelling: Self.take(2, of: subscription, acknowledging: true))
            #expect(seen.map(\.version) == [1, 2])
            #expect(await subscription.position == 2)
            try await store.stream("s").write(events("C"))
            #expect(try await store.subscriptions().map(\.lag) == [1])
            try await subscription.close()
        }
    }

    @Test(arguments: StoreKind.allCases)
    func aFilteredSubscriptionMovesPastEventsItsFilterDrops(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let stream = try await store.stream("s")
            try await stream.write(events("Rare"))
            try await stream.write(events("Common", "Common", "Common", "Common", "Common"))
            let options = SubscriptionOptions(filter: EventFilter([.equals("event_type", "Rare")]))
            let subscription = try await store.subscribe("rare", options: options)
            let seen = try await withHangGuard(cancelling: Self.take(1, of: subscription))
            #expect(seen.map(\.sequenceID) == [1])
            // Nothing the filter accepts follows event 1 up to 6, the head when the page was read.
            try await subscription.acknowledge(seen[0])
            #expect(await subscription.position == 6)
            #expect(try await store.subscriptions().map(\.lag) == [0])

            // With an accepted event after it, the acknowledgement records only the event itself.
            try await stream.write(events("Rare", "Common", "Rare"))
            try await subscription.close()
            let again = try await store.subscribe("rare", options: options)
            let next = try await withHangGuard(cancelling: Self.take(2, of: again))
            #expect(next.map(\.sequenceID) == [7, 9])
            try await again.acknowledge(next[0])
            #expect(await again.position == 7)
            try await again.acknowledge(next[1])
            #expect(await again.position == 9)
            try await again.close()
        }
    }

    @Test(arguments: StoreKind.allCases)
    func closingEndsItsEventsAndClosingTheStoreClosesIt(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        let store = try await fixture.open()
        try await store.stream("s").write(events("A"))
        let subscription = try await store.subscribe("ending")
        let reader = Task {
            var count = 0
            for try await _ in subscription.events() { count += 1 }
            return count
        }
        while try await store.subscriptions().isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        try await Task.sleep(for: .milliseconds(50))
        try await subscription.close()
        #expect(try await withHangGuard(cancelling: reader) == 1)

        let held = try await store.subscribe("held")
        let liveReader = Task {
            var count = 0
            for try await _ in held.events() { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(50))
        try await store.close()
        #expect(try await withHangGuard(cancelling: liveReader) == 1)
        if kind.isPersistent {
            try await closing(try await fixture.open()) { store in
                try await store.subscribe("held").close()
            }
        }
    }

    @Test(arguments: StoreKind.allCases)
    func badNamesAndOptionsAreRefused(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for name in ["", String(repeating: "n", count: Limits.subscriptionNameBytesMax + 1), "tab\there"] {
                await expectInvalidArgument {
                    try await store.subscribe(name)
                }
            }
            await expectError({ try await store.subscribe("bad-stream", options: .init(stream: "@nope")) }) {
                if case .invalidStreamID = $0 { true } else { false }
            }
            await expectError(.unsupportedFilterField("nope")) {
                try await store.subscribe("bad-filter", options: .init(filter: EventFilter([.equals("nope", 1)])))
            }
            #expect(try await store.subscriptions().isEmpty)
            // The longest name, and one with bytes a file name cannot hold as they are.
            let long = String(repeating: "é", count: Limits.subscriptionNameBytesMax / 2)
            try await store.subscribe(long).close()
            try await store.subscribe("../a/b c%2F.").close()
            #expect(Set(try await store.subscriptions().map(\.name)) == [long, "../a/b c%2F."])
        }
    }

    @Test(arguments: StoreKind.persistent)
    func aReadOnlyOpenOfTheLogStoreCanSubscribe(kind: StoreKind) async throws {
        let fixture = try StoreFixture(kind)
        defer { fixture.remove() }
        try await closing(try await fixture.open()) { writer in
            try await writer.stream("s").write(events("A", "B"))
            let reader = try #require(try await fixture.openReadOnly())
            try await closing(reader) { reader in
                guard kind == .log else {
                    await expectError(.readOnly) { try await reader.subscribe("ro") }
                    return
                }
                let subscription = try await reader.subscribe("ro")
                let taker = Self.take(3, of: subscription, acknowledging: true)
                try await writer.stream("s").write(events("C"))
                #expect(try await withHangGuard(cancelling: taker).map(\.type) == ["A", "B", "C"])
                await expectError(.subscriptionBusy("ro")) { try await writer.subscribe("ro") }
                try await subscription.close()
                await expectError(.readOnly) { try await reader.deleteSubscription("ro") }
                #expect(try await writer.subscriptions() == [SubscriptionInfo(name: "ro", stream: "@all", position: 3, lag: 0)])
            }
        }
    }
}

/// Expects `body` to throw `EventStoreError.invalidArgument`, whatever its message.
func expectInvalidArgument<T>(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async {
    await expectError(sourceLocation: sourceLocation, body) { if case .invalidArgument = $0 { true } else { false } }
}
