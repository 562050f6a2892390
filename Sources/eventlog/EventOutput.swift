import EventSourcing
import Foundation

/// How events are printed: one JSON object per line (`--json`), or a readable table.
enum EventOutput {
    /// `{"sequence_id":1,"stream_id":"s","version":1,"id":"k","type":"T","timestamp":"…Z","metadata":…,"data":"text"}`,
    /// with `data_base64` in place of `data` when the payload is not UTF-8.
    static func jsonLine(_ event: StoredEvent) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(160 + event.data.count)
        func key(_ name: String, first: Bool = false) {
            if !first { out.append(UInt8(ascii: ",")) }
            JSONValue.string(name).write(to: &out)
            out.append(UInt8(ascii: ":"))
        }
        out.append(UInt8(ascii: "{"))
        key("sequence_id", first: true)
        JSONValue.int(event.sequenceID).write(to: &out)
        key("stream_id")
        JSONValue.string(event.streamID).write(to: &out)
        key("version")
        JSONValue.int(event.version).write(to: &out)
        key("id")
        JSONValue.string(event.id).write(to: &out)
        key("type")
        JSONValue.string(event.type).write(to: &out)
        key("timestamp")
        JSONValue.string(timestamp(event.timestamp)).write(to: &out)
        key("metadata")
        (event.metadata.map(JSONValue.object) ?? .null).write(to: &out)
        if let text = String(validating: event.data, as: UTF8.self) {
            key("data")
            JSONValue.string(text).write(to: &out)
        } else {
            key("data_base64")
            JSONValue.string(event.data.base64EncodedString()).write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// `2026-01-02T03:04:05.123456Z`: UTC, always six fraction digits.
    static func timestamp(_ date: Date) -> String {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        var seconds = micros / 1_000_000
        var fraction = micros % 1_000_000
        if fraction < 0 {
            fraction += 1_000_000
            seconds -= 1
        }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
            Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(fraction))
    }

    static let tableHeader =
        "SEQ        STREAM                VERSION  TYPE                  TIMESTAMP                    DATA"

    /// One row of the readable table.
    static func tableRow(_ event: StoredEvent) -> String {
        func column(_ text: String, _ width: Int) -> String {
            let clipped = text.count > width - 1 ? String(text.prefix(width - 2)) + "…" : text
            return clipped.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        var data =
            String(validating: event.data, as: UTF8.self).map { $0.replacingOccurrences(of: "\n", with: "\\n") }
            ?? "base64:" + event.data.base64EncodedString()
        if data.count > 60 { data = String(data.prefix(59)) + "…" }
        return column(String(event.sequenceID), 11) + column(event.streamID, 22) + column(String(event.version), 9)
            + column(event.type, 22) + column(timestamp(event.timestamp), 29) + data
    }

    /// Writes a line to stdout and flushes it, so scripts reading a pipe see it at once.
    static func emit(_ line: String) {
        print(line)
        fflush(nil)
    }
}
