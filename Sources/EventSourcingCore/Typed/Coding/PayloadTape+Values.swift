import Foundation

extension PayloadTape {
    /// The name of a token's kind in error messages, as `JSONDecoder` words them.
    func describe(_ index: Int) -> String {
        switch tokens[index].kind {
        case .object: "a dictionary"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .true, .false: "bool"
        case .null: "null"
        }
    }

    /// The error for a value of the wrong kind: `valueNotFound` for `null`, else `typeMismatch`.
    @usableFromInline func mismatch(_ type: Any.Type, at index: Int, codingPath: [any CodingKey]) -> DecodingError {
        if tokens[index].kind == .null {
            return DecodingError.valueNotFound(
                type,
                DecodingError.Context(
                    codingPath: codingPath, debugDescription: "Cannot get \(type) -- found null value instead"))
        }
        return DecodingError.typeMismatch(
            type,
            DecodingError.Context(
                codingPath: codingPath,
                debugDescription: "Expected to decode \(type) but found \(describe(index)) instead."))
    }

    @usableFromInline func corrupted(_ message: String, codingPath: [any CodingKey], _ error: (any Error)? = nil)
        -> DecodingError
    {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: codingPath, debugDescription: message, underlyingError: error))
    }

    /// The `Bool` at token `index`.
    /// - Throws: `DecodingError` when it is not `true` or `false`.
    @inlinable @inline(__always)
    func decodeBool(at index: Int, codingPath: @autoclosure () -> [any CodingKey]) throws -> Bool {
        switch tokens[index].kind {
        case .true: return true
        case .false: return false
        default: throw mismatch(Bool.self, at: index, codingPath: codingPath())
        }
    }

    /// The `String` at token `index`, unescaped.
    /// - Throws: `DecodingError` when it is not a string or not valid Unicode.
    @inlinable @inline(__always)
    func decodeString(at index: Int, codingPath: @autoclosure () -> [any CodingKey]) throws -> String {
        guard tokens[index].kind == .string else { throw mismatch(String.self, at: index, codingPath: codingPath()) }
        do {
            return try string(at: index)
        } catch {
            throw corrupted("Invalid string.", codingPath: codingPath(), error)
        }
    }

    /// The integer at token `index`, exactly; a number with a fraction or exponent is accepted
    /// when its value is a whole number in range, as `JSONDecoder` accepts it.
    /// - Throws: `DecodingError` when it is not a number or does not fit `T`.
    @inlinable @inline(__always)
    func decodeInteger<T: FixedWidthInteger>(
        _ type: T.Type, at index: Int, codingPath: @autoclosure () -> [any CodingKey]
    ) throws -> T {
        let token = tokens[index]
        guard token.kind == .number else { throw mismatch(T.self, at: index, codingPath: codingPath()) }
        let text = text(of: index)
        if !token.hasEscapesOrFraction && text.count <= 20 {
            let isNegative = text[0] == UInt8(ascii: "-")
            var magnitude: UInt64 = 0
            var overflowed = false
            for byte in text[(isNegative ? 1 : 0)...] {
                let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times10.addingReportingOverflow(UInt64(byte &- UInt8(ascii: "0")))
                overflowed = overflowed || o1 || o2
                magnitude = sum
            }
            if !overflowed {
                if isNegative {
                    if magnitude == 0 { return 0 }
                    if T.isSigned, magnitude <= UInt64(1) << 63 {
                        let value = magnitude == UInt64(1) << 63 ? Int64.min : -Int64(magnitude)
                        if let exact = T(exactly: value) { return exact }
                    }
                } else if let exact = T(exactly: magnitude) {
                    return exact
                }
            }
        } else if let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite,
            value.rounded(.towardZero) == value, let exact = T(exactly: value)
        {
            // Only whole values that Double holds exactly; "1e2" is 100, "1.5" is an error.
            return exact
        }
        throw corrupted(
            "Parsed JSON number <\(String(decoding: text, as: UTF8.self))> does not fit in \(T.self).",
            codingPath: codingPath())
    }

    /// The `Double` at token `index`.
    /// - Throws: `DecodingError` when it is not a number or not finite as a `Double`.
    @inlinable @inline(__always)
    func decodeDouble(at index: Int, codingPath: @autoclosure () -> [any CodingKey]) throws -> Double {
        let token = tokens[index]
        guard token.kind == .number else { throw mismatch(Double.self, at: index, codingPath: codingPath()) }
        let text = text(of: index)
        if !token.hasEscapesOrFraction && text.count <= 16 {
            // Up to 15 digits: exact in a Double, so converting the integer rounds as parsing would.
            let isNegative = text[0] == UInt8(ascii: "-")
            var magnitude: Int64 = 0
            for byte in text[(isNegative ? 1 : 0)...] {
                magnitude = magnitude &* 10 &+ Int64(byte &- UInt8(ascii: "0"))
            }
            if magnitude < 1_000_000_000_000_000 {
                let value = Double(magnitude)
                return isNegative ? -value : value
            }
        }
        guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
            throw corrupted(
                "Number \(String(decoding: text, as: UTF8.self)) is not representable in Swift.",
                codingPath: codingPath())
        }
        return value
    }

    /// The `Float` at token `index`.
    /// - Throws: `DecodingError` when it is not a number or not finite as a `Float`.
    @usableFromInline func decodeFloat(at index: Int, codingPath: @autoclosure () -> [any CodingKey]) throws -> Float {
        guard tokens[index].kind == .number else { throw mismatch(Float.self, at: index, codingPath: codingPath()) }
        let text = String(decoding: text(of: index), as: UTF8.self)
        guard let value = Float(text), value.isFinite else {
            throw corrupted("Number \(text) is not representable in Swift.", codingPath: codingPath())
        }
        return value
    }

    /// The `Decimal` at token `index`, read from the number's text.
    /// - Throws: `DecodingError` when it is not a number or not a valid `Decimal`.
    @usableFromInline func decodeDecimal(at index: Int, codingPath: @autoclosure () -> [any CodingKey]) throws
        -> Decimal
    {
        guard tokens[index].kind == .number else { throw mismatch(Decimal.self, at: index, codingPath: codingPath()) }
        let text = String(decoding: text(of: index), as: UTF8.self)
        guard let value = Decimal(string: text, locale: nil), !value.isNaN else {
            throw corrupted("Parsed JSON number <\(text)> does not fit in Decimal.", codingPath: codingPath())
        }
        return value
    }

    /// The value of type `T` at token `index`: the types `JSONDecoder` treats specially (`Data` from
    /// base64, `Date` from a `Double`, `URL` from a string, `Decimal` from a number) and the common
    /// scalars directly, everything else through `T(from:)`.
    /// - Throws: `DecodingError`, or what `T(from:)` throws.
    @inlinable
    func decodeValue<T: Decodable>(_ type: T.Type, at index: Int, codingPath: [any CodingKey]) throws -> T {
        if T.self == String.self {
            return try decodeString(at: index, codingPath: codingPath) as! T  // safe: T is String
        } else if T.self == Int.self {
            return try decodeInteger(Int.self, at: index, codingPath: codingPath) as! T  // safe: T is Int
        } else if T.self == Double.self {
            return try decodeDouble(at: index, codingPath: codingPath) as! T  // safe: T is Double
        } else if T.self == Bool.self {
            return try decodeBool(at: index, codingPath: codingPath) as! T  // safe: T is Bool
        } else if T.self == Data.self {
            let text = try decodeString(at: index, codingPath: codingPath)
            guard let data = Data(base64Encoded: text) else {
                throw corrupted("Encountered Data is not valid Base64.", codingPath: codingPath)
            }
            return data as! T  // safe: T is Data
        } else if T.self == Date.self {
            let seconds = try decodeDouble(at: index, codingPath: codingPath)
            return Date(timeIntervalSinceReferenceDate: seconds) as! T  // safe: T is Date
        } else if T.self == URL.self {
            let text = try decodeString(at: index, codingPath: codingPath)
            guard let url = URL(string: text) else { throw corrupted("Invalid URL string.", codingPath: codingPath) }
            return url as! T  // safe: T is URL
        } else if T.self == Decimal.self {
            return try decodeDecimal(at: index, codingPath: codingPath) as! T  // safe: T is Decimal
        }
        return try T(from: PayloadDecoding(tape: self, index: index, codingPath: codingPath))
    }
}
