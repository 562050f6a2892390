import Foundation

/// One JSON document checked and cut into tokens for `PayloadDecoder`: a flat array in document
/// order, where each object or array token knows where its contents end, so that a value is skipped
/// in O(1) and nothing (no string, no dictionary) is built until a decoder asks for it.
///
/// Thread-safety: not thread-safe; one decoding pass owns it.
@usableFromInline
final class PayloadTape {
    /// What a token is.
    @usableFromInline
    enum Kind: UInt8 {
        case object, array, string, number, `true`, `false`, null
    }

    /// One JSON value (or object key, which is a string token followed by its value's tokens).
    @usableFromInline
    struct Token {
        /// What the value is.
        @usableFromInline var kind: Kind
        /// Strings: escapes present. Numbers: a fraction or exponent present.
        @usableFromInline var hasEscapesOrFraction: Bool
        /// Strings: bytes of 0x80 and above present.
        @usableFromInline var isNonASCII: Bool
        /// Containers: members (pairs) or elements.
        @usableFromInline var count: Int32
        /// Strings: the first byte after the opening quote; numbers: the first byte.
        @usableFromInline var start: Int32
        /// Strings: the closing quote; numbers: the byte after the last.
        @usableFromInline var end: Int32
        /// The token after this value and everything in it.
        @usableFromInline var next: Int32
    }

    /// The deepest nesting accepted, as `JSONValue.parse` does.
    static let depthMax = JSONValue.parseDepthMax

    /// The tape kept for the next decoding pass; see `PayloadDecoder.decode(_:from:)`.
    @usableFromInline static let spare = SpareObject<PayloadTape>()
    /// The largest document or token buffer (in bytes) a tape keeps between passes, so that one
    /// large payload does not pin its memory.
    static let reusableCapacityMax = 64 * 1024

    /// A copy of the document (in its first bytes; the rest is spare capacity, at least
    /// `paddingCount` bytes of it), owned here and freed in `deinit`.
    @usableFromInline @exclusivity(unchecked) private(set) var bytes: UnsafeMutableRawBufferPointer
    // Exclusivity is checked statically only: one decoding pass, on one thread, owns the tape, and
    // the dynamic checks of these hot properties cost more than the decoding itself.

    /// The tokens, in document order; the document is token 0.
    @usableFromInline @exclusivity(unchecked) private(set) var storage = TokenBuffer(capacity: 16)
    /// Where the last key lookup in object `hintObject` ended: the next member's key token.
    @exclusivity(unchecked) var hintObject = -1
    /// See `hintObject`.
    @exclusivity(unchecked) var hintMember = -1
    /// Key indexes of large objects, built when first searched.
    @exclusivity(unchecked) var keyIndexes: [Int: [String: Int]] = [:]

    /// An empty tape; `load(_:)` gives it a document.
    @usableFromInline init() {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 128, alignment: 1)
    }

    /// The bytes after a document that the scanner may read: strings are scanned eight bytes at a
    /// time, and the padding (all `"`) ends every such read within the buffer.
    static let paddingCount = 8

    /// Checks and tokenizes `data`.
    /// - Throws: `DecodingError.dataCorrupted` when it is not one JSON value.
    convenience init(_ data: Data) throws {
        self.init()
        try load(data)
    }

    deinit {
        bytes.deallocate()
        storage.deallocate()
    }

    /// The tokens, in document order; the document is token 0.
    @inlinable var tokens: UnsafeBufferPointer<Token> { UnsafeBufferPointer(start: storage.base, count: storage.count) }

    /// Whether the tape is worth keeping for another pass: its buffers are not oversized.
    @usableFromInline var isReusable: Bool {
        bytes.count <= Self.reusableCapacityMax
            && storage.capacity * MemoryLayout<Token>.stride <= Self.reusableCapacityMax
    }

    /// Checks and tokenizes `data`, replacing the document read before (the buffers are kept).
    /// - Throws: `DecodingError.dataCorrupted` when it is not one JSON value.
    @usableFromInline func load(_ data: Data) throws {
        let count = data.count
        guard count < Int(Int32.max) else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: [], debugDescription: "The given data is too large to decode."))
        }
        hintObject = -1
        hintMember = -1
        if !keyIndexes.isEmpty { keyIndexes = [:] }
        if count + Self.paddingCount > bytes.count {
            bytes.deallocate()
            bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: count + Self.paddingCount, alignment: 1)
        }
        if count > 0 {
            data.withUnsafeBytes { source in
                bytes.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: count)  // safe: both hold `count` bytes
            }
        }
        // safe: bytes holds count + paddingCount bytes, made so above
        (bytes.baseAddress! + count).initializeMemory(as: UInt8.self, repeating: UInt8(ascii: "\""), count: Self.paddingCount)
        var scanner = Scanner(bytes: UnsafeRawBufferPointer(rebasing: bytes[..<count]))
        // The scanner appends to a copy, which may reallocate; the tape takes it back in any case.
        var tokens = storage
        tokens.count = 0
        defer { storage = tokens }
        do {
            if count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { scanner.offset = 3 }  // UTF-8 BOM
            scanner.skipWhitespace()
            try scanner.scanValue(into: &tokens, depth: 0)
            scanner.skipWhitespace()
            guard scanner.offset == count else { throw scanner.error("Unexpected character after the top-level value") }
        } catch let error as JSONParseError {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: [], debugDescription: "The given data was not valid JSON.", underlyingError: error))
        }
    }

    /// The bytes of token `index` (a string's contents without quotes, or a number's text).
    @inlinable @inline(__always)
    func text(of index: Int) -> UnsafeRawBufferPointer {
        let token = tokens[index]
        return UnsafeRawBufferPointer(rebasing: bytes[Int(token.start)..<Int(token.end)])
    }

    /// The key of object `object` equal to `key`: the index of its value token, or nil.
    /// - Complexity: O(1) when keys are asked for in document order (as synthesized `Decodable`
    ///   asks), otherwise O(members), or O(1) amortized for objects of more than 32 members.
    @usableFromInline func find(_ key: String, in object: Int) -> Int? {
        let container = tokens[object]
        let members = Int(container.count)
        guard members > 0 else { return nil }
        if members > 32 { return indexedFind(key, in: object) }
        let first = object + 1
        var member = hintObject == object && hintMember >= 0 ? hintMember : first
        var key = key
        return key.withUTF8 { wanted in
            for _ in 0..<members {
                let value = member + 1
                let following = Int(tokens[value].next)
                if keyEquals(member, wanted) {
                    hintObject = object
                    hintMember = following < Int(container.next) ? following : first
                    return value
                }
                member = following < Int(container.next) ? following : first
            }
            return nil
        }
    }

    private func indexedFind(_ key: String, in object: Int) -> Int? {
        if let index = keyIndexes[object] { return index[key] }
        var index: [String: Int] = [:]
        var member = object + 1
        let end = Int(tokens[object].next)
        while member < end {
            let value = member + 1
            if let name = try? string(at: member) { index[name] = value }  // later duplicates win
            member = Int(tokens[value].next)
        }
        keyIndexes[object] = index
        return index[key]
    }

    private func keyEquals(_ member: Int, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        let token = tokens[member]
        if token.hasEscapesOrFraction {
            guard let name = try? string(at: member) else { return false }
            return name.utf8.elementsEqual(wanted)
        }
        let length = Int(token.end - token.start)
        guard length == wanted.count else { return false }
        guard length > 0, let base = wanted.baseAddress else { return true }
        let key = bytes.baseAddress! + Int(token.start)
        if length <= 8 {
            // Most keys: compared without a call to memcmp.
            for index in 0..<length where key.load(fromByteOffset: index, as: UInt8.self) != base[index] {
                return false  // safe: index < length, which both hold
            }
            return true
        }
        return memcmp(key, base, length) == 0  // safe: both hold `length` bytes
    }

    /// The string of string token `index`, unescaped.
    /// - Throws: `JSONParseError` for invalid UTF-8 or a lone surrogate escape.
    @usableFromInline func string(at index: Int) throws -> String {
        let token = tokens[index]
        let raw = text(of: index)
        if !token.hasEscapesOrFraction {
            if !token.isNonASCII { return String(decoding: raw, as: UTF8.self) }
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw JSONParseError(reason: "Invalid UTF-8 in string", offset: Int(token.start))
            }
            return text
        }
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var offset = 0
        func hex4(_ at: Int) throws -> UInt32 {
            var value: UInt32 = 0
            for byte in raw[at..<at + 4] {  // safe: the scanner checked four hex digits follow \u
                let digit: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
                default: digit = byte - UInt8(ascii: "A") + 10
                }
                value = value << 4 | UInt32(digit)
            }
            return value
        }
        while offset < raw.count {
            let byte = raw[offset]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                offset += 1
                continue
            }
            let escape = raw[offset + 1]  // safe: the scanner checked every \ is followed by an escape
            offset += 2
            switch escape {
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "u"):
                var code = try hex4(offset)
                offset += 4
                if (0xD800..<0xDC00).contains(code) {
                    guard offset + 6 <= raw.count, raw[offset] == UInt8(ascii: "\\"),
                        raw[offset + 1] == UInt8(ascii: "u")
                    else {
                        throw JSONParseError(
                            reason: "Unpaired UTF-16 surrogate escape", offset: Int(token.start) + offset)
                    }
                    let low = try hex4(offset + 2)
                    guard (0xDC00..<0xE000).contains(low) else {
                        throw JSONParseError(
                            reason: "Unpaired UTF-16 surrogate escape", offset: Int(token.start) + offset)
                    }
                    offset += 6
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(code) {
                    throw JSONParseError(reason: "Unpaired UTF-16 surrogate escape", offset: Int(token.start) + offset)
                }
                let scalar = Unicode.Scalar(code)!  // safe: surrogates were excluded above
                UTF8.encode(scalar) { output.append($0) }
            default: output.append(escape)  // " \ /
            }
        }
        guard let text = String(validating: output, as: UTF8.self) else {
            throw JSONParseError(reason: "Invalid UTF-8 in string", offset: Int(token.start))
        }
        return text
    }

    /// Tokens in a buffer of their own rather than an array: the scanner appends one per value, and
    /// an array's append checks uniqueness and capacity each time.
    @usableFromInline
    struct TokenBuffer {
        /// The first token.
        @usableFromInline private(set) var base: UnsafeMutablePointer<Token>
        /// The tokens in the buffer.
        @usableFromInline var count = 0
        /// The tokens `base` has room for.
        private(set) var capacity: Int

        /// An empty buffer with room for `capacity` tokens.
        init(capacity: Int) {
            self.capacity = capacity
            base = UnsafeMutablePointer<Token>.allocate(capacity: capacity)
        }

        /// Frees the buffer; Token is trivial, so nothing is deinitialized.
        func deallocate() { base.deallocate() }

        /// Appends `token`.
        @inline(__always)
        mutating func append(_ token: Token) {
            if _slowPath(count == capacity) {
                let newCapacity = capacity * 2
                let newBase = UnsafeMutablePointer<Token>.allocate(capacity: newCapacity)
                newBase.moveInitialize(from: base, count: count)  // safe: count < newCapacity
                base.deallocate()
                base = newBase
                capacity = newCapacity
            }
            (base + count).initialize(to: token)  // safe: count < capacity, made so above
            count &+= 1
        }

        /// Token `index`, which must be below `count`.
        subscript(index: Int) -> Token {
            get {
                assert(index >= 0 && index < count, "token \(index) of \(count)")
                return base[index]
            }
            set {
                assert(index >= 0 && index < count, "token \(index) of \(count)")
                base[index] = newValue
            }
        }
    }

    /// Checks JSON syntax and appends tokens.
    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        func error(_ reason: String) -> JSONParseError { JSONParseError(reason: reason, offset: offset) }

        @inline(__always)
        mutating func skipWhitespace() {
            while offset < bytes.count {
                let byte = bytes[offset]
                guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
                offset += 1
            }
        }

        mutating func scanValue(into tokens: inout TokenBuffer, depth: Int) throws {
            guard offset < bytes.count else { throw error("Unexpected end of JSON") }
            switch bytes[offset] {
            case UInt8(ascii: "{"): try scanObject(into: &tokens, depth: depth)
            case UInt8(ascii: "["): try scanArray(into: &tokens, depth: depth)
            case UInt8(ascii: "\""): try scanString(into: &tokens)
            case UInt8(ascii: "t"): try scanLiteral("true", .true, into: &tokens)
            case UInt8(ascii: "f"): try scanLiteral("false", .false, into: &tokens)
            case UInt8(ascii: "n"): try scanLiteral("null", .null, into: &tokens)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber(into: &tokens)
            default: throw error("Unexpected character")
            }
        }

        private mutating func scanLiteral(_ literal: StaticString, _ kind: Kind, into tokens: inout TokenBuffer) throws
        {
            let count = literal.utf8CodeUnitCount
            guard offset + count <= bytes.count else { throw error("Unexpected end of JSON") }
            for index in 0..<count where bytes[offset + index] != literal.utf8Start[index] {
                throw error("Invalid literal")
            }
            let start = Int32(offset)
            offset += count
            tokens.append(
                Token(
                    kind: kind, hasEscapesOrFraction: false, isNonASCII: false, count: 0, start: start,
                    end: Int32(offset), next: Int32(tokens.count + 1)))
        }

        private mutating func scanObject(into tokens: inout TokenBuffer, depth: Int) throws {
            guard depth < PayloadTape.depthMax else { throw error("JSON nested too deeply") }
            let index = tokens.count
            tokens.append(
                Token(
                    kind: .object, hasEscapesOrFraction: false, isNonASCII: false, count: 0, start: Int32(offset),
                    end: 0, next: 0))
            offset += 1
            var members: Int32 = 0
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") {
                offset += 1
            } else {
                while true {
                    skipWhitespace()
                    guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else {
                        throw error("Expected a string key")
                    }
                    try scanString(into: &tokens)
                    skipWhitespace()
                    guard offset < bytes.count, bytes[offset] == UInt8(ascii: ":") else { throw error("Expected ':'") }
                    offset += 1
                    skipWhitespace()
                    try scanValue(into: &tokens, depth: depth + 1)
                    members += 1
                    skipWhitespace()
                    guard offset < bytes.count else { throw error("Unexpected end of JSON") }
                    let byte = bytes[offset]
                    if byte == UInt8(ascii: "}") {
                        offset += 1
                        break
                    }
                    guard byte == UInt8(ascii: ",") else { throw error("Expected ',' or '}'") }
                    offset += 1
                }
            }
            tokens[index].count = members
            tokens[index].end = Int32(offset)
            tokens[index].next = Int32(tokens.count)
        }

        private mutating func scanArray(into tokens: inout TokenBuffer, depth: Int) throws {
            guard depth < PayloadTape.depthMax else { throw error("JSON nested too deeply") }
            let index = tokens.count
            tokens.append(
                Token(
                    kind: .array, hasEscapesOrFraction: false, isNonASCII: false, count: 0, start: Int32(offset),
                    end: 0, next: 0))
            offset += 1
            var elements: Int32 = 0
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") {
                offset += 1
            } else {
                while true {
                    skipWhitespace()
                    try scanValue(into: &tokens, depth: depth + 1)
                    elements += 1
                    skipWhitespace()
                    guard offset < bytes.count else { throw error("Unexpected end of JSON") }
                    let byte = bytes[offset]
                    if byte == UInt8(ascii: "]") {
                        offset += 1
                        break
                    }
                    guard byte == UInt8(ascii: ",") else { throw error("Expected ',' or ']'") }
                    offset += 1
                }
            }
            tokens[index].count = elements
            tokens[index].end = Int32(offset)
            tokens[index].next = Int32(tokens.count)
        }

        private mutating func scanString(into tokens: inout TokenBuffer) throws {
            offset += 1
            let start = offset
            var hasEscapes = false
            var high: UInt64 = 0
            let base = bytes.baseAddress!  // safe: a document with a string is not empty
            while true {
                // Eight bytes at a time up to the first `"`, `\` or control character; the padding
                // after the document (all `"`) stops the scan within the buffer.
                let word = UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)  // safe: offset <= count, padding follows
                let special = PlainStringBytes.specialBytes(word)
                if special == 0 {
                    high |= word
                    offset &+= 8
                    continue
                }
                let plain = special.trailingZeroBitCount >> 3
                high |= word & ((1 << (UInt64(plain) << 3)) &- 1)  // plain < 8: the bytes before the special one
                offset &+= plain
                guard offset < bytes.count else { throw error("Unterminated string") }
                let byte = bytes[offset]
                if byte == UInt8(ascii: "\"") { break }
                if byte < 0x20 { throw error("Control character in string") }
                // A backslash.
                offset += 1
                hasEscapes = true
                guard offset < bytes.count else { throw error("Unterminated string") }
                switch bytes[offset] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    offset += 1
                case UInt8(ascii: "u"):
                    offset += 1
                    guard offset + 4 <= bytes.count else { throw error("Unexpected end of JSON") }
                    for _ in 0..<4 {
                        guard bytes[offset].isHexDigit else { throw error("Invalid \\u escape") }
                        offset += 1
                    }
                default: throw error("Invalid escape")
                }
            }
            // safe: offsets are below the document's count, which load checked is below Int32.max
            tokens.append(
                Token(
                    kind: .string, hasEscapesOrFraction: hasEscapes, isNonASCII: high & 0x8080_8080_8080_8080 != 0,
                    count: 0, start: Int32(truncatingIfNeeded: start), end: Int32(truncatingIfNeeded: offset),
                    next: Int32(truncatingIfNeeded: tokens.count &+ 1)))
            offset += 1
        }

        private mutating func scanNumber(into tokens: inout TokenBuffer) throws {
            let start = offset
            var hasFraction = false
            if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            guard offset < bytes.count, bytes[offset].isDigit else { throw error("Invalid number") }
            if bytes[offset] == UInt8(ascii: "0") {
                offset += 1
            } else {
                while offset < bytes.count, bytes[offset].isDigit { offset += 1 }
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
                hasFraction = true
                offset += 1
                let digits = offset
                while offset < bytes.count, bytes[offset].isDigit { offset += 1 }
                guard offset > digits else { throw error("Invalid number") }
            }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "e") || bytes[offset] == UInt8(ascii: "E") {
                hasFraction = true
                offset += 1
                if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") {
                    offset += 1
                }
                let digits = offset
                while offset < bytes.count, bytes[offset].isDigit { offset += 1 }
                guard offset > digits else { throw error("Invalid number") }
            }
            tokens.append(
                Token(
                    kind: .number, hasEscapesOrFraction: hasFraction, isNonASCII: false, count: 0, start: Int32(start),
                    end: Int32(offset), next: Int32(tokens.count + 1)))
        }
    }
}

extension UInt8 {
    /// Whether the byte is an ASCII digit.
    @inline(__always) fileprivate var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
    /// Whether the byte is an ASCII hexadecimal digit.
    @inline(__always) fileprivate var isHexDigit: Bool {
        isDigit || (self >= UInt8(ascii: "a") && self <= UInt8(ascii: "f"))
            || (self >= UInt8(ascii: "A") && self <= UInt8(ascii: "F"))
    }
}
