import EventSourcingTestSupport
import Testing

/// The checks of the subscription harnesses report what they exist to catch.
@Suite("Subscription checks") struct SubscriptionCheckTests {
    /// Events 1...6 of one stream; types alternate Kept and Skipped.
    static let events = (1...6).map {
        DeliveryChecker.Event(sequenceID: $0, streamID: "s0", version: $0, type: $0 % 2 == 1 ? "Kept" : "Skipped")
    }

    static func delivered(_ sequenceID: Int64) -> ConsumerLine {
        let event = events[Int(sequenceID - 1)]
        return .delivered(sequenceID: sequenceID, streamID: event.streamID, version: event.version, type: event.type)
    }

    static func run(_ label: String, held: UInt64, at position: Int64, _ lines: [ConsumerLine], killedAt: UInt64?)
        -> DeliveryChecker.Run
    {
        DeliveryChecker.Run(
            label: label, lines: [.held(nanoseconds: held, position: position)] + lines, killedAt: killedAt)
    }

    let all = DeliveryChecker(events: events, accepts: { _ in true })

    @Test func aConsumerKilledBeforeItsAcknowledgementReturnedGetsTheEventAgain() throws {
        let runs = [
            Self.run(
                "first", held: 1, at: 0,
                [Self.delivered(1), .acknowledging(1), .acknowledged(1), Self.delivered(2), .acknowledging(2)],
                killedAt: 2),
            Self.run(
                "second", held: 3, at: 1,
                (2...6).flatMap { [Self.delivered($0), .acknowledging($0), .acknowledged($0)] } + [.finished],
                killedAt: nil),
        ]
        let (violations, counts) = all.check(runs, finalPosition: 6)
        #expect(violations.isEmpty, "\(violations)")
        #expect(counts.deliveries == 7 && counts.redeliveries == 1 && counts.acknowledgements == 6)
        // The acknowledgement of 2 may have been recorded before the kill: resuming after 2 is fine too.
        var resumedLater = runs
        resumedLater[1] = Self.run(
            "second", held: 3, at: 2,
            (3...6).flatMap { [Self.delivered($0), .acknowledging($0), .acknowledged($0)] } + [.finished], killedAt: nil
        )
        #expect(all.check(resumedLater, finalPosition: 6).violations.isEmpty)
    }

    @Test func anEventDeliveredAgainAfterItsAcknowledgementReturnedIsReported() throws {
        let runs = [
            Self.run("first", held: 1, at: 0, [Self.delivered(1), .acknowledging(1), .acknowledged(1)], killedAt: 2),
            Self.run(
                "second", held: 3, at: 0,
                (1...6).flatMap { [Self.delivered($0), .acknowledging($0), .acknowledged($0)] } + [.finished],
                killedAt: nil),
        ]
        let violations = all.check(runs, finalPosition: 6).violations
        #expect(violations.contains { $0.contains("resumed after 0, before 1") })
        #expect(violations.contains { $0.contains("event 1 was delivered again after its acknowledgement returned") })
    }

    @Test func gapsBackwardPositionsOverlappingHoldersAndAShortFinalPositionAreReported() throws {
        let runs = [
            Self.run(
                "first", held: 1, at: 0, [Self.delivered(1), Self.delivered(3), .acknowledging(3), .acknowledged(3)],
                killedAt: 5),
            // Held before the first was killed; resumed past 4 and 5, which nothing acknowledged.
            Self.run(
                "second", held: 4, at: 5, [Self.delivered(6), .acknowledging(6), .acknowledged(2), .finished],
                killedAt: nil),
        ]
        let violations = all.check(runs, finalPosition: 5).violations
        #expect(violations.contains { $0.contains("delivered event 3 where event 2 was next") })
        #expect(violations.contains { $0.contains("while first still held it") })
        #expect(violations.contains { $0.contains("past event 4, which no acknowledgement covered") })
        #expect(violations.contains { $0.contains("went back from 3 to 2") })
        #expect(
            violations.contains {
                $0.contains("2 accepted events were never delivered: 2, 4") || $0.contains("never delivered")
            })
        #expect(violations.contains { $0.contains("not the head 6") })
    }

    @Test func aFilteredPositionMaySkipOnlyFilteredOutEvents() throws {
        let kept = DeliveryChecker(events: Self.events, accepts: { $0 == "Kept" })
        // Acknowledging 1 may record 2 (filtered out); a restart resumes after 2 and gets 3 next.
        let runs = [
            Self.run("first", held: 1, at: 0, [Self.delivered(1), .acknowledging(1), .acknowledged(2)], killedAt: 2),
            Self.run(
                "second", held: 3, at: 2,
                [
                    Self.delivered(3), .acknowledging(3), .acknowledged(4), Self.delivered(5), .acknowledging(5),
                    .acknowledged(6), .finished,
                ], killedAt: nil),
        ]
        let (violations, counts) = kept.check(runs, finalPosition: 6)
        #expect(violations.isEmpty, "\(violations)")
        #expect(counts.filteredSkips == 3)
        // Recording 3 when acknowledging 1 passes an event the filter keeps.
        var skipping = runs
        skipping[0] = Self.run(
            "first", held: 1, at: 0, [Self.delivered(1), .acknowledging(1), .acknowledged(3)], killedAt: 2)
        #expect(kept.check(skipping, finalPosition: 6).violations.contains { $0.contains("passes event 3") })
        // And a filtered consumer must never be handed a filtered-out event.
        var unfiltered = runs
        unfiltered[1] = Self.run("second", held: 3, at: 2, [Self.delivered(3), Self.delivered(4)], killedAt: nil)
        #expect(
            kept.check(unfiltered, finalPosition: 6).violations.contains {
                $0.contains("delivered event 4 where event 5 was next")
            })
    }

    @Test func consumerLinesRoundTrip() throws {
        let lines: [ConsumerLine] = [
            .busy, .held(nanoseconds: 12, position: 3), Self.delivered(4), .acknowledging(4), .acknowledged(4),
            .finished,
        ]
        #expect(try ConsumerLine.lines(of: lines.map { $0.line + "\n" }.joined() + "D 5 s0") == lines)
    }

    @Test func aSyncedAcknowledgementLostOrInventedByARecoveryIsReported() {
        var acknowledgements = SubscriptionAcknowledgements()
        acknowledgements.subscribed()
        acknowledgements.asking(3)
        acknowledgements.returned(3)
        acknowledgements.asking(5)
        // In flight at the crash: 3 or 5, nothing else.
        var older = acknowledgements
        #expect(older.check(position: 2, isDurable: true, head: 9, isImage: true)?.contains("returned was 3") == true)
        var other = acknowledgements
        #expect(other.check(position: 4, isDurable: true, head: 9, isImage: true) != nil)
        var gone = acknowledgements
        #expect(gone.check(position: nil, isDurable: true, head: 9, isImage: true)?.contains("gone") == true)
        var pastHead = acknowledgements
        #expect(pastHead.check(position: 5, isDurable: true, head: 4, isImage: true)?.contains("past") == true)
        var inFlight = acknowledgements
        #expect(inFlight.check(position: 5, isDurable: true, head: 9, isImage: true) == nil)
        // The recovered position is the new starting point.
        #expect(inFlight.check(position: 3, isDurable: true, head: 9, isImage: true) != nil)
        // Unsynced (`.buffered`): any position asked for in the round, never another.
        var buffered = acknowledgements
        #expect(buffered.check(position: 3, isDurable: false, head: 9, isImage: true) == nil)
        #expect(buffered.check(position: 0, isDurable: false, head: 9, isImage: true) == nil)
        #expect(buffered.check(position: 4, isDurable: false, head: 9, isImage: true) != nil)
    }
}
