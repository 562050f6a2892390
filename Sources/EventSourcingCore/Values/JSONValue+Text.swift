import Foundation

/// A JSON text could not be parsed; `offset` is the byte where parsing stopped.
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    /// What is wrong.
    public let reason: String
    /// The byte offset in the text where parsing stopped.
    public let offset: Int
    /// The reason and the offset: "Unexpected end of JSON at byte 12".
    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// The deepest nesting `parse` accepts, to bound its stack use on hostile input.
    public static let parseDepthMax = 512

    /// Parses one JSON value (RFC 8259) from UTF-8 bytes; surrounding white space is allowed.
    ///
    /// Integers that fit `Int64` become `.int`, other numbers `.double`; duplicate object keys
    /// keep the last value; a lone UTF-16 surrogate escape becomes U+FFFD.
    /// - Parameters:
    ///   - bytes: The UTF-8 text of one JSON value.
    ///   - allowingNonFiniteNumbers: Also accept the words `NaN`, `Infinity` and `-Infinity` as
    ///     doubles, as Python's `json.dumps` writes them (metadata written by py-event-sourcing).
    /// - Throws: `JSONParseError` naming the offset of the first problem.
    /// - Complexity: O(n) in the length of the text.
    public static func parse<Bytes: Collection>(
        _ bytes: Bytes, allowingNonFiniteNumbers: Bool = false
    ) throws -> JSONValue where Bytes.Element == UInt8 {
        let result = bytes.withContiguousStorageIfAvailable { buffer in
            Result {
                try parseBuffer(UnsafeRawBufferPointer(buffer), allowingNonFiniteNumbers: allowingNonFiniteNumbers)
            }
        }
        if let result { return try result.get() }
        return try Array(bytes).withUnsafeBytes {
            try parseBuffer($0, allowingNonFiniteNumbers: allowingNonFiniteNumbers)
        }
    }

    /// Parses one JSON value from a string.
    public static func parse(_ text: String) throws -> JSONValue {
        var text = text
        return try text.withUTF8 { try parseBuffer(UnsafeRawBufferPointer($0), allowingNonFiniteNumbers: false) }
    }

    private static func parseBuffer(
        _ buffer: UnsafeRawBufferPointer, allowingNonFiniteNumbers: Bool
    ) throws -> JSONValue {
        var parser = JSONParser(bytes: buffer, allowsNonFinite: allowingNonFiniteNumbers)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.offset == buffer.count else { throw parser.error("Unexpected text after the JSON value") }
        return value
    }

    /// The value as compact JSON text: no white space, object keys sorted, doubles in their
    /// shortest round-tripping form (always with a `.` or an exponent). A non-finite double (only
    /// ever read from text written by Python) is written as Python writes it: `NaN`, `Infinity`,
    /// `-Infinity`; stores refuse such values in new events (`JSONValue.isValidJSON`).
    public var jsonText: String {
        var output: [UInt8] = []
        output.reserveCapacity(64)
        write(to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Appends the value's compact JSON text to `output`.
    public func write(to output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .int(let value): output.append(contentsOf: String(value).utf8)
        case .double(let value) where !value.isFinite:
            output.append(contentsOf: (value.isNaN ? "NaN" : value < 0 ? "-Infinity" : "Infinity").utf8)
        case .double(let value):
            var text = value.description
            if !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { text += ".0" }
            output.append(contentsOf: text.utf8)
        case .string(let value): JSONValue.writeString(value, to: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                value.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            JSONValue.writeObject(members, to: &output)
        }
    }

    /// Appends `members` as a JSON object with sorted keys.
    public static func writeObject(_ members: [String: JSONValue], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        for (index, key) in members.keys.sorted().enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            writeString(key, to: &output)
            output.append(UInt8(ascii: ":"))
            members[key]!.write(to: &output)  // safe: key comes from members.keys
        }
        output.append(UInt8(ascii: "}"))
    }

    static func writeString(_ string: String, to output: inout [UInt8]) {
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        output.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                output.append(contentsOf: Array("\\u00".utf8))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0xF)])
            default: output.append(byte)
            }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Whether the value can be written as JSON (every double finite) within `depthMax` levels.
    public func isValidJSON(depthMax: Int = Limits.metadataDepthMax) -> Bool {
        guard depthMax >= 0 else { return false }
        switch self {
        case .double(let value): return value.isFinite
        case .array(let values): return values.allSatisfy { $0.isValidJSON(depthMax: depthMax - 1) }
        case .object(let members): return members.values.allSatisfy { $0.isValidJSON(depthMax: depthMax - 1) }
        default: return true
        }
    }
}

/// A recursive-descent JSON parser over borrowed bytes.
private struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    let allowsNonFinite: Bool
    var offset = 0

    init(bytes: UnsafeRawBufferPointer, allowsNonFinite: Bool) {
        self.bytes = bytes
        self.allowsNonFinite = allowsNonFinite
    }

    func error(_ reason: String) -> JSONParseError { JSONParseError(reason: reason, offset: offset) }

    var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
    }

    mutating func expect(_ literal: StaticString, _ value: JSONValue) throws -> JSONValue {
        let count = literal.utf8CodeUnitCount
        guard offset + count <= bytes.count else { throw error("Unexpected end of JSON") }
        for index in 0..<count where bytes[offset + index] != literal.utf8Start[index] {
            throw error("Invalid literal")
        }
        offset += count
        return value
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth <= JSONValue.parseDepthMax else { throw error("JSON nested too deeply") }
        guard let byte = current else { throw error("Unexpected end of JSON") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "N") where allowsNonFinite: return try expect("NaN", .double(.nan))
        case UInt8(ascii: "I") where allowsNonFinite: return try expect("Infinity", .double(.infinity))
        case UInt8(ascii: "-")
        where allowsNonFinite && offset + 1 < bytes.count && bytes[offset + 1] == UInt8(ascii: "I"):
            return try expect("-Infinity", .double(-.infinity))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("Unexpected character")
        }
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        offset += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if current == UInt8(ascii: "}") {
            offset += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard current == UInt8(ascii: "\"") else { throw error("Expected a string key") }
            let key = try parseString()
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("Expected ':'") }
            offset += 1
            skipWhitespace()
            members[key] = try parseValue(depth: depth + 1)
            skipWhitespace()
            guard let byte = current else { throw error("Unexpected end of JSON") }
            offset += 1
            if byte == UInt8(ascii: "}") { return .object(members) }
            guard byte == UInt8(ascii: ",") else {
                offset -= 1
                throw error("Expected ',' or '}'")
            }
        }
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        offset += 1
        var values: [JSONValue] = []
        skipWhitespace()
        if current == UInt8(ascii: "]") {
            offset += 1
            return .array(values)
        }
        while true {
            skipWhitespace()
            values.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard let byte = current else { throw error("Unexpected end of JSON") }
            offset += 1
            if byte == UInt8(ascii: "]") { return .array(values) }
            guard byte == UInt8(ascii: ",") else {
                offset -= 1
                throw error("Expected ',' or ']'")
            }
        }
    }

    mutating func parseHex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw error("Unexpected end of JSON") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[offset]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("Invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            offset += 1
        }
        return value
    }

    mutating func parseString() throws -> String {
        offset += 1
        let start = offset
        // Fast path: no escapes.
        while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte >= 0x20 { offset += 1 }
        if current == UInt8(ascii: "\"") {
            let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<offset])
            offset += 1
            guard let text = String(validating: slice, as: UTF8.self) else {
                throw JSONParseError(reason: "Invalid UTF-8 in string", offset: start)
            }
            return text
        }
        var scalars: [UInt8] = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<offset]))
        while true {
            guard let byte = current else { throw error("Unterminated string") }
            offset += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: scalars, as: UTF8.self) else {
                    throw JSONParseError(reason: "Invalid UTF-8 in string", offset: start)
                }
                return text
            case UInt8(ascii: "\\"):
                guard let escape = current else { throw error("Unterminated string") }
                offset += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): scalars.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): scalars.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): scalars.append(0x08)
                case UInt8(ascii: "f"): scalars.append(0x0C)
                case UInt8(ascii: "n"): scalars.append(0x0A)
                case UInt8(ascii: "r"): scalars.append(0x0D)
                case UInt8(ascii: "t"): scalars.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800..<0xDC00).contains(code), offset + 6 <= bytes.count,
                        bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u")
                    {
                        let saved = offset
                        offset += 2
                        let low = try parseHex4()
                        if (0xDC00..<0xE000).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            offset = saved
                        }
                    }
                    let scalar = Unicode.Scalar(code) ?? "\u{FFFD}"
                    scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                default:
                    offset -= 1
                    throw error("Invalid escape")
                }
            case 0..<0x20:
                offset -= 1
                throw error("Control character in string")
            default:
                scalars.append(byte)
            }
        }
    }

    mutating func parseNumber() throws -> JSONValue {
        let start = offset
        var isInteger = true
        if current == UInt8(ascii: "-") { offset += 1 }
        guard let first = current, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") else {
            throw error("Invalid number")
        }
        if first == UInt8(ascii: "0") {
            offset += 1
        } else {
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { offset += 1 }
        }
        if current == UInt8(ascii: ".") {
            isInteger = false
            offset += 1
            let digits = offset
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { offset += 1 }
            guard offset > digits else { throw error("Invalid number") }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            isInteger = false
            offset += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            let digits = offset
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { offset += 1 }
            guard offset > digits else { throw error("Invalid number") }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
        if isInteger, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            throw JSONParseError(reason: "Number out of range", offset: start)
        }
        return .double(value)
    }
}
