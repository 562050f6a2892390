/// Timestamps as the Python py-event-sourcing package writes them: `datetime.utcnow().isoformat()`,
/// `YYYY-MM-DDTHH:MM:SS.ffffff` in UTC without an offset, and without the fraction when it is zero.
enum PythonTimestamp {
    /// Formats microseconds since the Unix epoch.
    static func format(microseconds: Int64) -> String {
        let (seconds, micros) = floorDivide(microseconds, 1_000_000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civil(daysSinceEpoch: days)
        var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T"
        text += "\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))"
        if micros != 0 { text += ".\(pad(micros, 6))" }
        return text
    }

    /// Parses `YYYY-MM-DD[T| ]HH:MM[:SS[.f...]][Z|±HH:MM]` (what Python's `fromisoformat` reads);
    /// without an offset the time is UTC. Fractions beyond microseconds are truncated.
    /// - Returns: microseconds since the Unix epoch, or `nil` when the text is not such a timestamp.
    static func parse(_ text: String) -> Int64? {
        var bytes = Array(text.utf8)[...]
        func number(_ digits: Int) -> Int64? {
            guard bytes.count >= digits else { return nil }
            var value: Int64 = 0
            for byte in bytes.prefix(digits) {
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int64(byte - 48)
            }
            bytes = bytes.dropFirst(digits)
            return value
        }
        func take(_ character: UInt8) -> Bool {
            guard bytes.first == character else { return false }
            bytes = bytes.dropFirst()
            return true
        }
        guard let year = number(4), take(45), let month = number(2), take(45), let day = number(2),
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        guard take(84) || take(32), let hour = number(2), take(58), let minute = number(2),
            hour < 24, minute < 60
        else { return nil }
        var second: Int64 = 0
        var micros: Int64 = 0
        if take(58) {
            guard let value = number(2), value < 60 else { return nil }
            second = value
            if take(46) || take(44) {
                var digits = 0
                while let byte = bytes.first, byte >= 48, byte <= 57 {
                    if digits < 6 { micros = micros * 10 + Int64(byte - 48) }
                    digits += 1
                    bytes = bytes.dropFirst()
                }
                guard digits > 0 else { return nil }
                for _ in digits..<max(digits, 6) { micros *= 10 }
            }
        }
        var offsetSeconds: Int64 = 0
        if take(90) {
            offsetSeconds = 0
        } else if let sign = bytes.first, sign == 43 || sign == 45 {
            bytes = bytes.dropFirst()
            guard let hours = number(2) else { return nil }
            _ = take(58)
            let minutes = number(2) ?? 0
            offsetSeconds = (hours * 3600 + minutes * 60) * (sign == 45 ? -1 : 1)
        }
        guard bytes.isEmpty else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return seconds * 1_000_000 + micros
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let quotient = value / divisor
        let remainder = value % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    // Proleptic Gregorian calendar conversions (the days-from-civil algorithm, eras of 400 years).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(daysSinceEpoch days: Int64) -> (Int64, Int64, Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
