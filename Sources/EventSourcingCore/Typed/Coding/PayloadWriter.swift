import Foundation

/// The output of one `PayloadEncoder` pass: the JSON bytes written so far and the stack of
/// containers still open at their end.
///
/// Each container and each value position ("slot") is a frame on the stack, known to its owner by
/// depth and serial number. Using a container closes every frame above it, so nested values end
/// where their siblings begin; using a container whose frame was already closed throws
/// `OutOfOrder`, and the encoder starts again with `JSONEncoder`.
///
/// Thread-safety: not thread-safe; one encoding pass owns it.
@usableFromInline
final class PayloadWriter {
    /// Thrown when a container is used after it was closed; see the type's summary.
    @usableFromInline struct OutOfOrder: Error {}

    /// What a frame is.
    @usableFromInline
    enum FrameKind: UInt8 {
        /// A JSON object: `{` was written, `}` closes it.
        case object
        /// A JSON array: `[` was written, `]` closes it.
        case array
        /// The place of one value; closing it writes `{}` if nothing was written into it, as
        /// `JSONEncoder` writes a value that encodes nothing.
        case slot
    }

    /// One open container or value position.
    @usableFromInline
    struct Frame {
        /// What the frame is.
        @usableFromInline var kind: FrameKind
        /// Items written: members, elements, or (for a slot) whether its value was started.
        @usableFromInline var count: Int
        /// Tells this frame from earlier frames at the same depth.
        @usableFromInline var serial: Int
    }

    // Exclusivity is checked statically only: one encoding pass, on one thread, owns the writer,
    // and the dynamic checks of these hot properties cost more than the encoding itself. The output
    // and the frames live in buffers of their own rather than arrays, for the same reason: an
    // array's append checks uniqueness and capacity, and this writer appends a byte at a time.

    /// The JSON written so far: its first `count` bytes.
    @exclusivity(unchecked) private var buffer: UnsafeMutablePointer<UInt8>
    /// The bytes written.
    @exclusivity(unchecked) private(set) var count = 0
    /// The bytes `buffer` holds.
    @exclusivity(unchecked) private var capacity: Int
    /// The open frames, outermost first: the first `frameCount` of the buffer.
    @usableFromInline @exclusivity(unchecked) private(set) var frames: UnsafeMutablePointer<Frame>
    /// The frames open.
    @usableFromInline @exclusivity(unchecked) private(set) var frameCount = 0
    /// The frames `frames` holds.
    @exclusivity(unchecked) private var frameCapacity: Int
    /// Set once a container was used out of order; from then on every use throws.
    @usableFromInline @exclusivity(unchecked) private(set) var isOutOfOrder = false
    @exclusivity(unchecked) private var serialNext = 0

    /// The writer kept for the next encoding pass; see `PayloadEncoder.encode(_:)`.
    @usableFromInline static let spare = SpareObject<PayloadWriter>()
    /// The largest output buffer a writer keeps between passes, so that one large payload does not
    /// pin its memory.
    static let reusableCapacityMax = 64 * 1024

    @usableFromInline init() {
        capacity = 256
        buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        frameCapacity = 16
        frames = UnsafeMutablePointer<Frame>.allocate(capacity: frameCapacity)
    }

    deinit {
        buffer.deallocate()
        frames.deallocate()  // Frame is trivial: nothing to deinitialize
    }

    /// The JSON written so far, valid until the next write.
    @usableFromInline var output: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: buffer, count: count) }

    /// Whether the writer is worth keeping for another pass: its buffers are not oversized.
    @usableFromInline var isReusable: Bool {
        capacity <= Self.reusableCapacityMax && frameCapacity * MemoryLayout<Frame>.stride <= Self.reusableCapacityMax
    }

    /// Empties the writer for another pass, keeping its buffers.
    @usableFromInline func reset() {
        count = 0
        frameCount = 0
        serialNext = 0
        isOutOfOrder = false
    }

    // MARK: Output

    /// Makes room for `extra` more bytes.
    @inline(__always)
    private func reserve(_ extra: Int) {
        if _slowPath(extra > capacity &- count) { grow(toHold: count + extra) }
    }

    private func grow(toHold needed: Int) {
        var newCapacity = capacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        let newBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        newBuffer.update(from: buffer, count: count)  // safe: count <= capacity <= newCapacity
        buffer.deallocate()
        buffer = newBuffer
        capacity = newCapacity
    }

    /// Appends one byte.
    @usableFromInline @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        buffer[count] = byte  // safe: reserve(1) made room
        count &+= 1
    }

    /// Appends `bytes`.
    @inline(__always)
    func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(buffer + count).copyMemory(from: source, byteCount: bytes.count)  // safe: reserved
        count &+= bytes.count
    }

    /// Appends an ASCII literal.
    @inline(__always)
    private func append(_ literal: StaticString) {
        append(UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    /// Appends the UTF-8 of `text` as it is.
    @usableFromInline func appendUTF8(_ text: String) {
        var text = text
        text.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    // MARK: Frames

    /// Opens a frame above the current top and returns its depth and serial.
    @usableFromInline func push(_ kind: FrameKind) -> (depth: Int, serial: Int) {
        if _slowPath(frameCount == frameCapacity) {
            let newCapacity = frameCapacity * 2
            let newFrames = UnsafeMutablePointer<Frame>.allocate(capacity: newCapacity)
            newFrames.moveInitialize(from: frames, count: frameCount)  // safe: frameCount <= newCapacity
            frames.deallocate()
            frames = newFrames
            frameCapacity = newCapacity
        }
        serialNext &+= 1
        (frames + frameCount).initialize(to: Frame(kind: kind, count: 0, serial: serialNext))  // safe: room made above
        frameCount &+= 1
        return (frameCount - 1, serialNext)
    }

    /// Closes every frame above `depth`.
    @usableFromInline func close(above depth: Int) {
        while frameCount > depth + 1 {
            frameCount -= 1
            let frame = frames[frameCount]  // safe: frameCount was above depth + 1 >= 0
            switch frame.kind {
            case .object: append(UInt8(ascii: "}"))
            case .array: append(UInt8(ascii: "]"))
            case .slot: if frame.count == 0 { append("{}") }
            }
        }
    }

    /// Checks that frame `serial` at `depth` is still open, closes what is above it, and counts
    /// one more item in it.
    /// - Returns: Whether the item is not the first (so a `,` must precede it in a container).
    /// - Throws: `OutOfOrder` when the frame was closed.
    @inline(__always)
    func beginItem(depth: Int, serial: Int) throws -> Bool {
        guard !isOutOfOrder, depth >= 0, depth < frameCount, frames[depth].serial == serial else { throw outOfOrder() }
        if frameCount > depth + 1 { close(above: depth) }
        let items = frames[depth].count
        frames[depth].count = items + 1
        return items > 0
    }

    /// Starts one element of the container at `depth`: the `,` it needs.
    @inline(__always)
    @usableFromInline func beginElement(depth: Int, serial: Int) throws {
        if try beginItem(depth: depth, serial: serial) { append(UInt8(ascii: ",")) }
    }

    /// Starts one member of the object at `depth`: the `,` it needs, the key and the `:`.
    @inline(__always)
    @usableFromInline func beginMember(depth: Int, serial: Int, key: String) throws {
        if try beginItem(depth: depth, serial: serial) { append(UInt8(ascii: ",")) }
        writeString(key)
        append(UInt8(ascii: ":"))
    }

    /// Claims the slot at `depth` for a single value; it must still be open, on top and unused.
    @usableFromInline func beginSingleValue(depth: Int, serial: Int) throws {
        guard !isOutOfOrder, depth >= 0, depth == frameCount - 1, frames[depth].serial == serial,
            frames[depth].count == 0
        else { throw outOfOrder() }
        frames[depth].count = 1
    }

    /// Opens a container of `kind` in the slot at `depth`, or gives back the one already opened there
    /// and still open (asking an encoder twice for its container gives the same container).
    @usableFromInline func openContainer(_ kind: FrameKind, inSlot depth: Int, serial: Int) throws -> (
        depth: Int, serial: Int
    ) {
        guard !isOutOfOrder, depth >= 0, depth < frameCount, frames[depth].serial == serial else { throw outOfOrder() }
        if frames[depth].count == 0 {
            close(above: depth)
            frames[depth].count = 1
            append(kind == .object ? UInt8(ascii: "{") : UInt8(ascii: "["))
            return push(kind)
        }
        guard frameCount > depth + 1, frames[depth + 1].kind == kind else { throw outOfOrder() }
        close(above: depth + 1)
        return (depth + 1, frames[depth + 1].serial)
    }

    /// Opens a container of `kind` as the value that was just begun (after `beginMember` or
    /// `beginElement`).
    @usableFromInline func openNested(_ kind: FrameKind) -> (depth: Int, serial: Int) {
        append(kind == .object ? UInt8(ascii: "{") : UInt8(ascii: "["))
        return push(kind)
    }

    private func outOfOrder() -> OutOfOrder {
        isOutOfOrder = true
        return OutOfOrder()
    }

    // MARK: Values

    /// Encodes `value` as the whole document.
    @inlinable func encodeTopLevel<T: Encodable>(_ value: T) throws {
        let slot = push(.slot)
        try encodeValue(value, inSlot: slot, codingPath: [])
        if frames[0].count == 0 {
            throw EncodingError.invalidValue(
                value,
                EncodingError.Context(
                    codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
        close(above: -1)
    }

    /// Writes `value` where a value was just begun, at `depth` + 1 above the container at `depth`.
    @inlinable func encodeNested<T: Encodable>(
        _ value: T, above depth: Int, codingPath: @autoclosure () -> [any CodingKey]
    ) throws {
        if try writeSpecial(value, codingPath: codingPath) { return }
        let slot = push(.slot)
        try encodeValue(value, inSlot: slot, codingPath: codingPath())
        close(above: depth)
    }

    /// Writes `value` into the open, unused slot `slot`, leaving the slot and what `value` opened on
    /// the stack.
    @inlinable func encodeValue<T: Encodable>(
        _ value: T, inSlot slot: (depth: Int, serial: Int), codingPath: [any CodingKey]
    ) throws {
        if try writeSpecial(value, codingPath: { codingPath }) {
            frames[slot.depth].count = 1
            return
        }
        try value.encode(to: PayloadEncoding(writer: self, slot: slot, codingPath: codingPath))
    }

    /// Writes `value` if its type is one `JSONEncoder` treats specially, or a common scalar.
    /// - Returns: Whether it did.
    @inlinable @inline(__always)
    func writeSpecial<T: Encodable>(_ value: T, codingPath: () -> [any CodingKey]) throws -> Bool {
        if T.self == String.self {
            writeString(value as! String)  // safe: T is String
        } else if T.self == Int.self {
            writeInteger(value as! Int)  // safe: T is Int
        } else if T.self == Double.self {
            try writeDouble(value as! Double, codingPath: codingPath())  // safe: T is Double
        } else if T.self == Bool.self {
            writeBool(value as! Bool)  // safe: T is Bool
        } else if T.self == Data.self {
            writeString((value as! Data).base64EncodedString())  // safe: T is Data
        } else if T.self == Date.self {
            // deferredToDate: what Date.encode(to:) writes.
            try writeDouble((value as! Date).timeIntervalSinceReferenceDate, codingPath: codingPath())  // safe: T is Date
        } else if T.self == URL.self {
            writeString((value as! URL).absoluteString)  // safe: T is URL
        } else if T.self == Decimal.self {
            writeDecimal(value as! Decimal)  // safe: T is Decimal
        } else {
            return false
        }
        return true
    }

    /// Writes `null`.
    @usableFromInline func writeNull() { append("null") }

    /// Writes `true` or `false`.
    @usableFromInline func writeBool(_ value: Bool) {
        if value { append("true") } else { append("false") }
    }

    /// Writes an integer of any width in decimal, exactly.
    @inlinable @inline(__always)
    func writeInteger<T: FixedWidthInteger>(_ value: T) {
        if T.bitWidth <= 64 {
            if T.isSigned {
                let wide = Int64(truncatingIfNeeded: value)
                if wide < 0 { append(UInt8(ascii: "-")) }
                writeDigits(wide.magnitude)
            } else {
                writeDigits(UInt64(truncatingIfNeeded: value))
            }
        } else {
            appendUTF8(String(value))
        }
    }

    @usableFromInline func writeDigits(_ value: UInt64) {
        var digits = 1
        var rest = value
        while rest >= 10 {
            rest /= 10
            digits &+= 1
        }
        reserve(digits)  // 20 digits hold UInt64.max
        rest = value
        var index = count &+ digits
        repeat {
            let (quotient, remainder) = rest.quotientAndRemainder(dividingBy: 10)
            index &-= 1
            buffer[index] = UInt8(truncatingIfNeeded: remainder) &+ UInt8(ascii: "0")  // safe: index in the reserved digits
            rest = quotient
        } while rest > 0
        count &+= digits
    }

    /// Writes a finite `Double` as `JSONEncoder` does: its shortest round-tripping form, without a
    /// trailing `.0`.
    /// - Throws: `EncodingError.invalidValue` for NaN and the infinities.
    @usableFromInline func writeDouble(_ value: Double, codingPath: @autoclosure () -> [any CodingKey]) throws {
        guard value.isFinite else { throw nonFinite(value, codingPath: codingPath()) }
        if let exact = Int64(exactly: value), exact.magnitude < 1 << 53, !(value == 0 && value.sign == .minus) {
            writeInteger(exact)
            return
        }
        writeFloatingText(value.description)
    }

    /// Writes a finite `Float` as `JSONEncoder` does; see `writeDouble`.
    @usableFromInline func writeFloat(_ value: Float, codingPath: @autoclosure () -> [any CodingKey]) throws {
        guard value.isFinite else { throw nonFinite(value, codingPath: codingPath()) }
        writeFloatingText(value.description)
    }

    private func writeFloatingText(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            let trimmed =
                utf8.count > 2 && utf8[utf8.count - 2] == UInt8(ascii: ".") && utf8[utf8.count - 1] == UInt8(ascii: "0")
                ? utf8.count - 2 : utf8.count
            append(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[..<trimmed]))
        }
    }

    private func nonFinite(_ value: Any, codingPath: [any CodingKey]) -> EncodingError {
        EncodingError.invalidValue(
            value,
            EncodingError.Context(
                codingPath: codingPath,
                debugDescription:
                    "Unable to encode \(value) directly in JSON. Use a non-finite floating-point strategy."))
    }

    /// Writes a `Decimal` as a JSON number, as `JSONEncoder` does.
    @usableFromInline func writeDecimal(_ value: Decimal) {
        appendUTF8(value.description)
    }

    /// Writes a JSON string: `"` and `\` escaped, `/` as `\/`, control characters as `\b \f \n \r \t`
    /// or `\u00XX`, everything else as its UTF-8.
    @usableFromInline func writeString(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            let length = utf8.count
            reserve(length &+ 2)
            // Copied a byte at a time while no byte needs an escape: most strings (keys, names,
            // identifiers) are short and plain, and end here without a second pass or a memcpy call.
            let output = buffer + count  // safe: reserve made room for the quotes and the bytes
            output[0] = UInt8(ascii: "\"")
            var index = 0
            if length < 32 {
                while index < length {
                    let byte = utf8[index]
                    if _slowPath(Self.needsEscape(byte)) { break }
                    output[index &+ 1] = byte  // safe: index < length
                    index &+= 1
                }
                if _fastPath(index == length) {
                    output[length &+ 1] = UInt8(ascii: "\"")  // safe: reserved length + 2
                    count &+= length &+ 2
                    return
                }
                count &+= index &+ 1
            } else {
                count &+= 1
            }
            writeEscaping(UnsafeRawBufferPointer(utf8), from: index)
            append(UInt8(ascii: "\""))
        }
    }

    /// Whether `byte` is written escaped: `"`, `\`, `/` and the control characters.
    @inline(__always)
    private static func needsEscape(_ byte: UInt8) -> Bool {
        // Bits 0-31 (control characters), 34 (") and 47 (/); \ is the only one above 63.
        let below64: UInt64 = 0x0000_8004_FFFF_FFFF
        return byte < 64 ? (below64 >> byte) & 1 != 0 : byte == UInt8(ascii: "\\")
    }

    /// Writes `utf8[start...]` with the escapes `writeString` describes, without the quotes.
    private func writeEscaping(_ utf8: UnsafeRawBufferPointer, from start: Int) {
        var nonASCII: UInt64 = 0
        let plainEnd = PlainStringBytes.plainEnd(of: utf8, from: start, slash: true, nonASCII: &nonASCII)
        var runStart = start
        for index in plainEnd..<utf8.count {
            let byte = utf8[index]
            guard Self.needsEscape(byte) else { continue }
            if runStart < index {
                append(UnsafeRawBufferPointer(rebasing: utf8[runStart..<index]))
            }
            runStart = index + 1
            append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): append(byte)
            case 0x08: append(UInt8(ascii: "b"))
            case 0x0C: append(UInt8(ascii: "f"))
            case 0x0A: append(UInt8(ascii: "n"))
            case 0x0D: append(UInt8(ascii: "r"))
            case 0x09: append(UInt8(ascii: "t"))
            default:
                let hex: StaticString = "0123456789abcdef"
                append("u00")
                append(hex.utf8Start[Int(byte >> 4)])  // safe: byte >> 4 < 2 (a control character)
                append(hex.utf8Start[Int(byte & 0xF)])  // safe: < 16
            }
        }
        if runStart < utf8.count {
            append(UnsafeRawBufferPointer(rebasing: utf8[runStart...]))
        }
    }
}
