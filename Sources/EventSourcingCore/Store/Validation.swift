/// The input rules every store applies before anything reaches storage.
package enum Validation {
    /// Checks a stream id that may be `"@all"`.
    /// - Throws: `EventStoreError.invalidStreamID` naming the rule that was broken.
    package static func checkStreamID(_ streamID: String) throws {
        let byteCount = streamID.utf8.count
        guard byteCount > 0 else { throw EventStoreError.invalidStreamID("a stream id must not be empty") }
        guard byteCount <= Limits.streamIDBytesMax else {
            throw EventStoreError.invalidStreamID(
                "a stream id is at most \(Limits.streamIDBytesMax) UTF-8 bytes, this one has \(byteCount)")
        }
        guard !streamID.utf8.contains(0) else {
            throw EventStoreError.invalidStreamID("a stream id must not contain a NUL character")
        }
        if streamID.hasPrefix("@"), streamID != StreamName.all {
            throw EventStoreError.invalidStreamID(
                "'\(streamID)': names starting with '@' are reserved; only '@all' exists")
        }
    }

    /// Checks a batch and drops events whose idempotency key occurs earlier in it.
    /// - Returns: The events to hand to storage, in order.
    /// - Throws: `EventStoreError.invalidEvent` naming the event's index and the rule.
    package static func prepareBatch(_ events: [CandidateEvent]) throws -> [CandidateEvent] {
        try prepareBatchCounting(events).events
    }

    /// Checks the writes of `EventStore.write(_:)`: stream ids (no `"@all"`, none twice), expected
    /// versions, each stream's batch (`prepareBatch`), and the limits of one batch over the whole
    /// call, which the log engine stores as one unit.
    /// - Returns: One request per write, in order, with its events prepared.
    package static func prepareWrites(_ writes: [StreamWrite]) throws -> [AppendRequest] {
        var seen = Set<String>()
        var events = 0
        var bytes = 0
        return try writes.enumerated().map { index, write in
            try checkStreamID(write.streamID)
            guard write.streamID != StreamName.all else { throw EventStoreError.writeToAllStream }
            guard seen.insert(write.streamID).inserted else {
                throw EventStoreError.invalidArgument(
                    "stream '\(write.streamID)' appears twice in one write (writes \(index) and an earlier one); "
                        + "put its events in one StreamWrite")
            }
            try checkExpectedVersion(write.expectedVersion, of: "write \(index) ('\(write.streamID)'): ")
            let prepared: (events: [CandidateEvent], bytes: Int)
            do {
                prepared = try prepareBatchCounting(write.events)
            } catch EventStoreError.invalidEvent(let message) {
                throw EventStoreError.invalidEvent("write \(index) ('\(write.streamID)'): \(message)")
            }
            events += prepared.events.count
            bytes += prepared.bytes
            guard events <= Limits.batchEventsMax, bytes <= Limits.batchBytesMax else {
                throw EventStoreError.invalidEvent(
                    "a write to several streams holds at most \(Limits.batchEventsMax) events and "
                        + "\(Limits.batchBytesMax) bytes in all; write \(index) ('\(write.streamID)') passes that")
            }
            return AppendRequest(
                streamID: write.streamID, events: prepared.events, expectedVersion: write.expectedVersion)
        }
    }

    /// Checks that an exact expected version is not negative; `context` starts the message.
    package static func checkExpectedVersion(_ expected: ExpectedVersion, of context: String = "") throws {
        if case .exact(let version) = expected, version < 0 {
            throw EventStoreError.invalidArgument("\(context)an expected version is at least 0, not \(version)")
        }
    }

    /// `prepareBatch`, also returning the batch's size as the limits count it.
    static func prepareBatchCounting(_ events: [CandidateEvent]) throws -> (events: [CandidateEvent], bytes: Int) {
        guard events.count <= Limits.batchEventsMax else {
            throw EventStoreError.invalidEvent(
                "a write holds at most \(Limits.batchEventsMax) events, this one has \(events.count)")
        }
        // The events are read in place, through the array's buffer: none is copied or retained.
        let (repeated, batchBytes) = try events.withUnsafeBufferPointer { events -> (Set<Int>, Int) in
            var batchBytes = 0
            var keyed = 0
            for index in events.indices {
                batchBytes += try eventBytes(events[index], index: index)
                guard batchBytes <= Limits.batchBytesMax else {
                    throw EventStoreError.invalidEvent(
                        "a write holds at most \(Limits.batchBytesMax) bytes; event \(index) passes that")
                }
                if events[index].idempotencyKey != nil { keyed += 1 }
            }
            return (keyed > 1 ? repeatedKeyIndexes(events) : [], batchBytes)
        }
        guard !repeated.isEmpty else { return (events, batchBytes) }
        return (events.enumerated().filter { !repeated.contains($0.offset) }.map(\.element), batchBytes)
    }

    /// The indexes of events whose key an earlier event of the batch carries, found with a flat
    /// open-addressing table of key hashes (keys are compared only when their hashes are equal).
    /// - Complexity: O(n) expected for n events.
    static func repeatedKeyIndexes(_ events: UnsafeBufferPointer<CandidateEvent>) -> Set<Int> {
        var capacity = 16
        while capacity < events.count * 2 { capacity <<= 1 }
        let mask = capacity - 1
        // Each slot holds the index + 1 of the first event with a key that hashed there (0: empty).
        var slots = [Int](repeating: 0, count: capacity)
        var hashes = [Int](repeating: 0, count: events.count)
        var repeated: Set<Int> = []
        for index in events.indices {
            guard let key = events[index].idempotencyKey else { continue }
            let hash = Int(truncatingIfNeeded: StableHash.hash(key))
            hashes[index] = hash
            var slot = hash & mask
            while slots[slot] != 0 {
                let earlier = slots[slot] - 1
                if hashes[earlier] == hash, events[earlier].idempotencyKey == key {
                    repeated.insert(index)
                    break
                }
                slot = (slot + 1) & mask
            }
            if slots[slot] == 0 { slots[slot] = index + 1 }
        }
        return repeated
    }

    /// The size an event counts for against the limits, after checking its fields.
    static func eventBytes(_ event: CandidateEvent, index: Int) throws -> Int {
        let typeBytes = event.type.utf8.count
        guard typeBytes > 0 else { throw EventStoreError.invalidEvent("event \(index) has an empty type") }
        guard typeBytes <= Limits.eventTypeBytesMax else {
            throw EventStoreError.invalidEvent(
                "event \(index): a type is at most \(Limits.eventTypeBytesMax) UTF-8 bytes, this one has \(typeBytes)")
        }
        var total = typeBytes + event.data.count
        if let key = event.idempotencyKey {
            let keyBytes = key.utf8.count
            guard keyBytes > 0 else {
                throw EventStoreError.invalidEvent("event \(index) has an empty idempotency key; pass nil for none")
            }
            guard keyBytes <= Limits.idempotencyKeyBytesMax else {
                throw EventStoreError.invalidEvent(
                    "event \(index): an idempotency key is at most \(Limits.idempotencyKeyBytesMax) UTF-8 bytes, "
                        + "this one has \(keyBytes)")
            }
            total += keyBytes
        }
        if let metadata = event.metadata {
            guard JSONValue.object(metadata).isValidJSON() else {
                throw EventStoreError.invalidEvent(
                    "event \(index): metadata must be JSON: numbers finite, nested at most "
                        + "\(Limits.metadataDepthMax) levels")
            }
            var text: [UInt8] = []
            JSONValue.writeObject(metadata, to: &text)
            total += text.count
        }
        guard total <= Limits.eventBytesMax else {
            throw EventStoreError.invalidEvent(
                "event \(index) has \(total) bytes; an event is at most \(Limits.eventBytesMax) bytes")
        }
        return total
    }

    /// Checks a projection name.
    package static func checkProjection(_ projection: String) throws {
        let byteCount = projection.utf8.count
        guard byteCount > 0, byteCount <= Limits.projectionNameBytesMax, !projection.utf8.contains(0) else {
            throw EventStoreError.invalidArgument(
                "a projection name has 1 to \(Limits.projectionNameBytesMax) UTF-8 bytes and no NUL")
        }
    }

    /// Checks a subscription name: 1 to `Limits.subscriptionNameBytesMax` UTF-8 bytes, no control
    /// characters.
    package static func checkSubscriptionName(_ name: String) throws {
        let byteCount = name.utf8.count
        guard byteCount > 0, byteCount <= Limits.subscriptionNameBytesMax,
            !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw EventStoreError.invalidArgument(
                "a subscription name has 1 to \(Limits.subscriptionNameBytesMax) UTF-8 bytes and no control "
                    + "characters; '\(name.prefix(100))' has \(byteCount) bytes")
        }
    }
}
