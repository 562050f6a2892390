import Foundation

extension EventStream {
    /// The events of a `read` or a `watch`: an `AsyncSequence` of `StoredEvent`.
    ///
    /// Iteration reads storage in pages and suspends at most once per page. A watch treats every
    /// notification as a hint and re-reads storage from its own position, so it never queues events:
    /// its memory is at most two pages, whatever its speed. While a watch catches up (a page that
    /// did not reach the end), it reads the next page in a task of its own as soon as it hands out
    /// the first event of a page, so that the consumer's work between events (a subscription's
    /// durable acknowledgements, for one) overlaps the reading.
    ///
    /// Thread-safety: the sequence is `Sendable`; each iterator belongs to the task that iterates it.
    public struct Events: AsyncSequence, Sendable {
        /// Events, in the order of the read or watch.
        public typealias Element = StoredEvent

        enum Mode: Sendable {
            case read(direction: ReadDirection, limit: Int?)
            case watch
        }

        /// The most events one page holds.
        static let pageEventsMax = 4096

        let mode: Mode
        let streamID: String
        let from: Int64?
        let filter: EventFilter?
        let runtime: StoreRuntime
        /// The subscription this watch delivers for, told what is handed out and scanned.
        var progress: SubscriptionProgress? = nil

        /// A new iteration: a read starts from its `from`, a watch without `from` from the head now.
        public func makeAsyncIterator() -> Iterator { Iterator(sequence: self) }

        /// Iterates a read or a watch.
        public struct Iterator: AsyncIteratorProtocol {
            private let sequence: Events
            private var buffer: [StoredEvent] = []
            private var index = 0
            private var isStarted = false
            private var isFinished = false
            private var reachedEnd = false
            private var position: Int64 = 0
            /// The last position the buffered page scanned.
            private var bufferScannedThrough: Int64 = 0
            private var remaining: Int?
            private var compiledFilter: CompiledFilter?
            /// A watch's next page, being read ahead while this one is handed out.
            private var readAhead: ReadAhead?

            /// A page read in a task of its own, from `after`; `generation` is the watch hub's
            /// generation before the read started.
            private struct ReadAhead {
                let after: Int64
                let generation: UInt64
                let task: Task<ReadPage?, any Error>
            }

            init(sequence: Events) { self.sequence = sequence }

            /// The next event, or `nil` at the end of a read, or when a watch ends.
            /// - Throws: `EventStoreError` for bad arguments (on the first call), or a storage error.
            public mutating func next() async throws -> StoredEvent? {
                if let progress = sequence.progress, progress.isClosed, !isFinished { finish() }
                if index < buffer.count {
                    defer { index += 1 }
                    return buffer[index]
                }
                guard !isFinished else { return nil }
                do {
                    switch sequence.mode {
                    case .read(let direction, let limit): return try await nextRead(direction: direction, limit: limit)
                    case .watch: return try await nextWatched()
                    }
                } catch {
                    finish()
                    throw error
                }
            }

            private mutating func finish() {
                isFinished = true
                buffer = []
                index = 0
                readAhead?.task.cancel()
                readAhead = nil
            }

            private mutating func start() throws {
                isStarted = true
                if let from = sequence.from, from < 0 {
                    throw EventStoreError.invalidArgument("'from' is a position of at least 0, not \(from)")
                }
                compiledFilter = try sequence.filter.map(CompiledFilter.init)
            }

            private mutating func deliver(_ events: [StoredEvent]) -> StoredEvent? {
                guard let first = events.first else { return nil }
                buffer = events
                bufferScannedThrough = position
                index = 1
                reportPage()
                return first
            }

            /// Tells a subscription that the buffered page is handed out, and how far nothing its
            /// filter accepts follows its last event.
            private func reportPage() {
                guard let progress = sequence.progress, let last = buffer.last else { return }
                let position = sequence.streamID == StreamName.all ? last.sequenceID : last.version
                progress.delivered(pageEndingAt: position, clearThrough: bufferScannedThrough)
            }

            private func readPage(direction: ReadDirection, limit: Int) async throws -> ReadPage {
                let request = ReadRequest(
                    streamID: sequence.streamID, after: position, direction: direction, limit: limit,
                    filter: compiledFilter)
                let storage = sequence.runtime.storage
                return try await sequence.runtime.gate.run { try await storage.read(request) }
            }

            private mutating func nextRead(direction: ReadDirection, limit: Int?) async throws -> StoredEvent? {
                if !isStarted {
                    try start()
                    if let limit, limit < 0 {
                        throw EventStoreError.invalidArgument("'limit' is at least 0, not \(limit)")
                    }
                    remaining = limit
                    let from = sequence.from ?? 0
                    position = direction == .backward && from == 0 ? Int64.max : from
                }
                while !reachedEnd {
                    if remaining == 0 { break }
                    var pageLimit = Events.pageEventsMax
                    if compiledFilter == nil, let remaining { pageLimit = Swift.min(pageLimit, remaining) }
                    var page = try await readPage(direction: direction, limit: pageLimit)
                    if let last = page.lastScanned { position = last }
                    reachedEnd = page.isEnd
                    if let count = remaining {
                        if page.events.count > count { page.events.removeLast(page.events.count - count) }
                        remaining = count - page.events.count
                    }
                    if let event = deliver(page.events) { return event }
                }
                finish()
                return nil
            }

            private mutating func nextWatched() async throws -> StoredEvent? {
                let runtime = sequence.runtime
                if !isStarted {
                    try start()
                    if let from = sequence.from {
                        position = from
                    } else {
                        // From now: the head when iteration starts.
                        guard
                            let head = try await Self.unlessClosed({
                                try await runtime.gate.run { try await runtime.storage.head(of: sequence.streamID) }
                            })
                        else {
                            finish()
                            return nil
                        }
                        position = head.version
                    }
                }
                let waitStream: String? = sequence.streamID == StreamName.all ? nil : sequence.streamID
                while !Task.isCancelled, !(sequence.progress?.isClosed ?? false) {
                    let generation: UInt64
                    let read: ReadPage?
                    do {
                        if let ahead = readAhead, ahead.after == position {
                            readAhead = nil
                            generation = ahead.generation
                            read = try await ahead.task.value
                        } else {
                            readAhead = nil
                            generation = runtime.hub.generation
                            read = try await Self.unlessClosed({
                                try await readPage(direction: .forward, limit: Events.pageEventsMax)
                            })
                        }
                    } catch EventStoreError.unavailable {
                        // A database server that went away: the watch carries on from its position
                        // once the server is back (the store connects again by itself).
                        try? await Task.sleep(for: .milliseconds(200))
                        continue
                    }
                    guard let page = read else { break }
                    if let newest = page.events.last {
                        runtime.metrics.watchLag.recordNanoseconds(
                            Int64(Swift.max(0, Date().timeIntervalSince(newest.timestamp)) * 1e9))
                    }
                    if let last = page.lastScanned {
                        if page.events.isEmpty { sequence.progress?.scannedNothing(from: position, through: last) }
                        position = last
                    }
                    if let event = deliver(page.events) {
                        if !page.isEnd { startReadingAhead() }
                        return event
                    }
                    if !page.isEnd { continue }
                    guard await runtime.hub.waitForChange(after: generation, streamID: waitStream) else { break }
                }
                finish()
                return nil
            }

            /// Starts reading the page after `position` in a task of its own (unstructured: the
            /// iterator may be dropped at any event, and a task it no longer awaits just ends after
            /// one page).
            private mutating func startReadingAhead() {
                let runtime = sequence.runtime
                let request = ReadRequest(
                    streamID: sequence.streamID, after: position, direction: .forward, limit: Events.pageEventsMax,
                    filter: compiledFilter)
                let generation = runtime.hub.generation
                let task = Task {
                    try await Self.unlessClosed({
                        try await runtime.gate.run { try await runtime.storage.read(request) }
                    })
                }
                readAhead = ReadAhead(after: position, generation: generation, task: task)
            }

            /// Runs `body`, turning `storeClosed` into `nil`: a closing store ends a watch quietly.
            private static func unlessClosed<T>(_ body: () async throws -> T) async throws -> T? {
                do {
                    return try await body()
                } catch EventStoreError.storeClosed {
                    return nil
                }
            }
        }
    }
}
