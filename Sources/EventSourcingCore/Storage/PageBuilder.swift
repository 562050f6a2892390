/// Builds a `ReadPage` from events scanned in the request's order: applies the filter, counts the
/// page's events and bytes, and says when to stop. Backends use it so that the filter and paging
/// rules are written once.
package struct PageBuilder {
    private let request: ReadRequest
    private var page = ReadPage(events: [], lastScanned: nil, isEnd: false)
    private var scannedCount = 0
    private var scannedBytes = 0

    package init(request: ReadRequest) { self.request = request }

    /// Adds the next scanned event; a hidden one (`StreamLifecycle.hides`) counts as scanned but
    /// is never returned.
    /// - Returns: `false` once the page is full; the caller stops scanning.
    package mutating func add(_ event: StoredEvent, isHidden: Bool = false) -> Bool {
        scannedCount += 1
        scannedBytes += event.data.count + event.type.utf8.count + 64
        page.lastScanned = request.position(of: event)
        if !isHidden, request.filter?.matches(event) ?? true { page.events.append(event) }
        return scannedCount < request.limit && scannedBytes < request.byteBudget
    }

    /// Counts a position whose event compaction removed as scanned, so that paging moves past it.
    /// - Returns: `false` once the page is full; the caller stops scanning.
    package mutating func skip(position: Int64) -> Bool {
        scannedCount += 1
        page.lastScanned = position
        return scannedCount < request.limit && scannedBytes < request.byteBudget
    }

    /// The page; `sourceExhausted` says the scan ran out of committed events rather than room.
    package func finish(sourceExhausted: Bool) -> ReadPage {
        var result = page
        result.isEnd = sourceExhausted
        return result
    }
}
