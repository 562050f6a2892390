import Testing

@testable import SQLiteStore

@Suite("Python timestamps") struct PythonTimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00"),
        (1_787_801_045_123_456, "2026-08-27T03:24:05.123456"),
        (951_782_400_000_001, "2000-02-29T00:00:00.000001"),
        (-1, "1969-12-31T23:59:59.999999"),
        (4_102_444_800_000_000, "2100-01-01T00:00:00"),
    ])
    func formatsAsPythonIsoformat(micros: Int64, text: String) {
        #expect(PythonTimestamp.format(microseconds: micros) == text)
        #expect(PythonTimestamp.parse(text) == micros)
    }

    @Test func parsesOtherIsoForms() {
        #expect(PythonTimestamp.parse("2026-08-27T03:24:05.123456+00:00") == 1_787_801_045_123_456)
        #expect(PythonTimestamp.parse("2026-08-27T05:24:05.123456+02:00") == 1_787_801_045_123_456)
        #expect(PythonTimestamp.parse("2026-08-27T03:24:05.123456Z") == 1_787_801_045_123_456)
        #expect(PythonTimestamp.parse("2026-08-27 03:24:05.1") == 1_787_801_045_100_000)
        #expect(PythonTimestamp.parse("2026-08-27T03:24:05.1234569") == 1_787_801_045_123_456)
        #expect(PythonTimestamp.parse("2026-08-27T03:24") == 1_787_801_040_000_000)
    }

    @Test func rejectsNonTimestamps() {
        for text in [
            "", "yesterday", "2026-13-01T00:00:00", "2026-01-01", "2026-01-01T25:00:00", "2026-01-01T00:00:00x",
        ] {
            #expect(PythonTimestamp.parse(text) == nil, "\(text)")
        }
    }

    @Test func everyMicrosecondOfADayRoundTrips() {
        var micros: Int64 = 1_700_000_000_000_000
        for _ in 0..<10_000 {
            micros += 8_640_000_123
            #expect(PythonTimestamp.parse(PythonTimestamp.format(microseconds: micros)) == micros)
        }
    }
}
