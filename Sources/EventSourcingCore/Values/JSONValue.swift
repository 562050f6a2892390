/// Any JSON value, as stored in an event's metadata.
///
/// Numbers compare numerically: `.int(100) == .double(100.0)`, and they hash alike.
/// `JSONValue` is `Codable` as the plain JSON it holds (`"EMEA"`, `100`, `{"a":[1]}`), not as a
/// tagged enum.
///
/// Thread-safety: a value type; safe to share between tasks.
public enum JSONValue: Sendable, Hashable, Codable,
    ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integer; parsing gives one for every number without a fraction or exponent that fits `Int64`.
    case int(Int64)
    /// A floating-point number; parsing gives one for every other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; keys are unique, their order is not kept.
    case object([String: JSONValue])

    /// `nil` is `.null`.
    public init(nilLiteral: ()) { self = .null }
    /// A boolean literal is `.bool`.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An integer literal is `.int`.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// A floating-point literal is `.double`.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// A string literal is `.string`.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An array literal is `.array`.
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// A dictionary literal is `.object`; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }

    /// Whether two values are the same JSON; numbers compare numerically (`.int(1) == .double(1.0)`).
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return JSONValue.isExactly(b, a)
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a == b
        default: return false
        }
    }

    /// Hashes the value so that equal values (`.int(1)` and `.double(1.0)` among them) hash alike.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0 as UInt8)
        case .bool(let value):
            hasher.combine(1 as UInt8)
            hasher.combine(value)
        // Numbers hash as doubles so that equal int and double values hash alike.
        case .int(let value):
            hasher.combine(2 as UInt8)
            hasher.combine(Double(value))
        case .double(let value):
            hasher.combine(2 as UInt8)
            hasher.combine(value)
        case .string(let value):
            hasher.combine(3 as UInt8)
            hasher.combine(value)
        case .array(let value):
            hasher.combine(4 as UInt8)
            hasher.combine(value)
        case .object(let value):
            hasher.combine(5 as UInt8)
            hasher.combine(value)
        }
    }

    /// True when `double` is an integral value equal to `integer`.
    static func isExactly(_ double: Double, _ integer: Int64) -> Bool {
        guard double.isFinite, double.rounded(.towardZero) == double else { return false }
        // Int64's range as doubles is [-2^63, 2^63); 2^63 itself does not fit.
        guard double >= -9_223_372_036_854_775_808.0, double < 9_223_372_036_854_775_808.0 else { return false }
        return Int64(double) == integer
    }
}

extension JSONValue {
    /// Decodes whatever JSON value the decoder holds: `null`, a boolean, a number (`.int` when it
    /// decodes as an `Int64`), a string, an array or an object.
    /// - Throws: `DecodingError.dataCorrupted` when the value is none of these.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else if let value = try? container.decode([String: JSONValue].self) {
            self = .object(value)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "Not a JSON value")
        }
    }

    /// Encodes the plain JSON value (`"EMEA"`, `100`, `{"a":[1]}`), not a tagged enum.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
