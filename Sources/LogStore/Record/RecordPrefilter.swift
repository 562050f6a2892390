import EventSourcingCore

#if canImport(Glibc)
    import Glibc
#endif

/// What a filtered read can tell from a record's raw bytes before decoding it: that the record
/// cannot match, so it is counted as scanned without building an event (W7 of the benchmark spec:
/// a filter that selects 1% skips the other 99% at the cost of a byte comparison or search).
///
/// Only what is certain is used: an `event_type` or `stream_id` clause of strings compares the
/// bytes exactly, and a metadata clause of strings made only of printable ASCII other than `"`,
/// `\` and `/` (which every JSON writer writes as they are) needs the quoted string somewhere in
/// the record's metadata text. Any other clause tells nothing; the decoded event is matched by
/// `CompiledFilter` as before, so a record that passes here may still not match.
///
/// Thread-safety: a value type, used by one read.
struct RecordPrefilter {
    /// Each clause on the event type: the type must be one of these.
    private var types: [[[UInt8]]] = []
    /// Each clause on the stream id: the stream must be one of these.
    private var streamIDs: [[String]] = []
    /// Each clause on a metadata value: the metadata text must hold one of these quoted strings.
    private var needles: [[[UInt8]]] = []

    /// `nil` when no clause of `filter` can be told from the bytes.
    init?(_ filter: CompiledFilter?) {
        guard let filter else { return nil }
        for (field, test) in filter.clauses {
            let strings: [String]
            switch test {
            case .equals(.string(let value)): strings = [value]
            case .oneOf(let values):
                let texts = values.compactMap { value -> String? in
                    if case .string(let text) = value { return text }
                    return nil
                }
                // A non-string candidate could match without its text appearing: nothing is told.
                guard texts.count == values.count else { continue }
                strings = texts
            default: continue
            }
            switch field {
            case .eventType: types.append(strings.map { Array($0.utf8) })
            case .streamID: streamIDs.append(strings)
            case .metadata:
                guard strings.allSatisfy(Self.isWrittenAsIs) else { continue }
                needles.append(strings.map { Array("\"\($0)\"".utf8) })
            case .version, .sequenceID: continue
            }
        }
        if types.isEmpty, streamIDs.isEmpty, needles.isEmpty { return nil }
    }

    /// Whether events of `streamID` may match (a whole batch is passed over when not).
    func mayMatch(streamID: String) -> Bool { streamIDs.allSatisfy { $0.contains(streamID) } }

    /// Whether the record may match.
    func mayMatch(_ fields: EventRecord.Fields) -> Bool {
        for candidates in types where !candidates.contains(where: { $0.elementsEqual(fields.type) }) { return false }
        guard !needles.isEmpty else { return true }
        guard let metadata = fields.metadata else { return false }
        for candidates in needles where !candidates.contains(where: { Self.contains(metadata, $0) }) { return false }
        return true
    }

    /// Printable ASCII other than `"`, `\` and `/`: no JSON writer escapes it.
    private static func isWrittenAsIs(_ text: String) -> Bool {
        text.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "/") }
    }

    /// Whether `needle` (not empty) occurs in `haystack`: `memchr` to each place its first byte
    /// is, then `memcmp`.
    private static func contains(_ haystack: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Bool {
        guard let base = haystack.baseAddress, haystack.count >= needle.count else { return false }
        return needle.withUnsafeBytes { needle in
            let end = base + haystack.count
            var start = base
            while end - start >= needle.count,
                let found = memchr(start, Int32(needle[0]), end - start - needle.count + 1)
            {
                if memcmp(found, needle.baseAddress!, needle.count) == 0 { return true }
                start = UnsafeRawPointer(found) + 1
            }
            return false
        }
    }
}
