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
final class PayloadWriter {
    /// Thrown when a container is used after it was closed; see the type's summary.
    struct OutOfOrder: Error {}

    /// What a frame is.
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
    struct Frame {
        /// What the frame is.
        var kind: FrameKind
        /// Items written: members, elements, or (for a slot) whether its value was started.
        var count: Int
        /// Tells this frame from earlier frames at the same depth.
        var serial: Int
    }

    // Exclusivity is checked statically only: one encoding pass, on one thread, owns the writer,
    // and the dynamic checks of these hot properties cost more than the encoding itself.

    /// The JSON written so far.
    @exclusivity(unchecked) var bytes: [UInt8] = []
    /// The open frames, outermost first.
    @exclusivity(unchecked) private(set) var frames: [Frame] = []
    /// Set once a container was used out of order; from then on every use throws.
    @exclusivity(unchecked) private(set) var isOutOfOrder = false
    @exclusivity(unchecked) private var serialNext = 0

    init() {
        bytes.reserveCapacity(128)
        frames.reserveCapacity(8)
    }

    // MARK: Frames

    /// Opens a frame above the current top and returns its depth and serial.
    func push(_ kind: FrameKind) -> (depth: Int, serial: Int) {
        serialNext &+= 1
        frames.append(Frame(kind: kind, count: 0, serial: serialNext))
        return (frames.count - 1, serialNext)
    }

    /// Closes every frame above `depth`.
    func close(above depth: Int) {
        while frames.count > depth + 1 {
            let frame = frames.removeLast()
            switch frame.kind {
            case .object: bytes.append(UInt8(ascii: "}"))
            case .array: bytes.append(UInt8(ascii: "]"))
            case .slot:
                if frame.count == 0 {
                    bytes.append(UInt8(ascii: "{"))
                    bytes.append(UInt8(ascii: "}"))
                }
            }
        }
    }

    /// Checks that frame `serial` at `depth` is still open, closes what is above it, and counts
    /// one more item in it.
    /// - Returns: Whether the item is not the first (so a `,` must precede it in a container).
    /// - Throws: `OutOfOrder` when the frame was closed.
    @inline(__always)
    func beginItem(depth: Int, serial: Int) throws -> Bool {
        guard !isOutOfOrder, depth >= 0, depth < frames.count, frames[depth].serial == serial else { throw outOfOrder() }
        if frames.count > depth + 1 { close(above: depth) }
        let count = frames[depth].count
        frames[depth].count = count + 1
        return count > 0
    }

    /// Starts one element of the container at `depth`: the `,` it needs.
    @inline(__always)
    func beginElement(depth: Int, serial: Int) throws {
        if try beginItem(depth: depth, serial: serial) { bytes.append(UInt8(ascii: ",")) }
    }

    /// Starts one member of the object at `depth`: the `,` it needs, the key and the `:`.
    @inline(__always)
    func beginMember(depth: Int, serial: Int, key: String) throws {
        if try beginItem(depth: depth, serial: serial) { bytes.append(UInt8(ascii: ",")) }
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    /// Claims the slot at `depth` for a single value; it must still be open, on top and unused.
    func beginSingleValue(depth: Int, serial: Int) throws {
        guard !isOutOfOrder, depth >= 0, depth == frames.count - 1, frames[depth].serial == serial, frames[depth].count == 0
        else { throw outOfOrder() }
        frames[depth].count = 1
    }

    /// Opens a container of `kind` in the slot at `depth`, or gives back the one already opened there
    /// and still open (asking an encoder twice for its container gives the same container).
    func openContainer(_ kind: FrameKind, inSlot depth: Int, serial: Int) throws -> (depth: Int, serial: Int) {
        guard !isOutOfOrder, depth >= 0, depth < frames.count, frames[depth].serial == serial else { throw outOfOrder() }
        if frames[depth].count == 0 {
            close(above: depth)
            frames[depth].count = 1
            bytes.append(kind == .object ? UInt8(ascii: "{") : UInt8(ascii: "["))
            return push(kind)
        }
        guard frames.count > depth + 1, frames[depth + 1].kind == kind else { throw outOfOrder() }
        close(above: depth + 1)
        return (depth + 1, frames[depth + 1].serial)
    }

    /// Opens a container of `kind` as the value that was just begun (after `beginMember` or
    /// `beginElement`).
    func openNested(_ kind: FrameKind) -> (depth: Int, serial: Int) {
        bytes.append(kind == .object ? UInt8(ascii: "{") : UInt8(ascii: "["))
        return push(kind)
    }

    private func outOfOrder() -> OutOfOrder {
        isOutOfOrder = true
        return OutOfOrder()
    }

    // MARK: Values

    /// Encodes `value` as the whole document.
    func encodeTopLevel<T: Encodable>(_ value: T) throws {
        let slot = push(.slot)
        try encodeValue(value, inSlot: slot, codingPath: [])
        if frames[0].count == 0 {
            throw EncodingError.invalidValue(
                value,
                EncodingError.Context(codingPath: [], debugDescription: "Top-level \(T.self) did not encode any values."))
        }
        close(above: -1)
    }

    /// Writes `value` where a value was just begun, at `depth` + 1 above the container at `depth`.
    func encodeNested<T: Encodable>(_ value: T, above depth: Int, codingPath: @autoclosure () -> [any CodingKey]) throws {
        if try writeSpecial(value, codingPath: codingPath) { return }
        let slot = push(.slot)
        try encodeValue(value, inSlot: slot, codingPath: codingPath())
        close(above: depth)
    }

    /// Writes `value` into the open, unused slot `slot`, leaving the slot and what `value` opened on
    /// the stack.
    private func encodeValue<T: Encodable>(
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
    @inline(__always)
    private func writeSpecial<T: Encodable>(_ value: T, codingPath: () -> [any CodingKey]) throws -> Bool {
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
    func writeNull() { bytes.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")]) }

    /// Writes `true` or `false`.
    func writeBool(_ value: Bool) {
        if value {
            bytes.append(contentsOf: [UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "u"), UInt8(ascii: "e")])
        } else {
            bytes.append(contentsOf: [
                UInt8(ascii: "f"), UInt8(ascii: "a"), UInt8(ascii: "l"), UInt8(ascii: "s"), UInt8(ascii: "e"),
            ])
        }
    }

    /// Writes an integer of any width in decimal, exactly.
    @inline(__always)
    func writeInteger<T: FixedWidthInteger>(_ value: T) {
        if T.bitWidth <= 64 {
            if T.isSigned {
                let wide = Int64(truncatingIfNeeded: value)
                if wide < 0 { bytes.append(UInt8(ascii: "-")) }
                writeDigits(wide.magnitude)
            } else {
                writeDigits(UInt64(truncatingIfNeeded: value))
            }
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }

    private func writeDigits(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(truncatingIfNeeded: value) &+ UInt8(ascii: "0"))
            return
        }
        // 20 digits hold UInt64.max.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            var rest = value
            var index = buffer.count
            while rest > 0 {
                let (quotient, remainder) = rest.quotientAndRemainder(dividingBy: 10)
                index -= 1
                buffer[index] = UInt8(truncatingIfNeeded: remainder) &+ UInt8(ascii: "0")  // safe: at most 20 < 24
                rest = quotient
            }
            count = buffer.count - index
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[index...]))
        }
        _ = count
    }

    /// Writes a finite `Double` as `JSONEncoder` does: its shortest round-tripping form, without a
    /// trailing `.0`.
    /// - Throws: `EncodingError.invalidValue` for NaN and the infinities.
    func writeDouble(_ value: Double, codingPath: @autoclosure () -> [any CodingKey]) throws {
        guard value.isFinite else { throw nonFinite(value, codingPath: codingPath()) }
        if let exact = Int64(exactly: value), exact.magnitude < 1 << 53, !(value == 0 && value.sign == .minus) {
            writeInteger(exact)
            return
        }
        writeFloatingText(value.description)
    }

    /// Writes a finite `Float` as `JSONEncoder` does; see `writeDouble`.
    func writeFloat(_ value: Float, codingPath: @autoclosure () -> [any CodingKey]) throws {
        guard value.isFinite else { throw nonFinite(value, codingPath: codingPath()) }
        writeFloatingText(value.description)
    }

    private func writeFloatingText(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            let trimmed =
                utf8.count > 2 && utf8[utf8.count - 2] == UInt8(ascii: ".") && utf8[utf8.count - 1] == UInt8(ascii: "0")
                ? utf8.count - 2 : utf8.count
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[..<trimmed]))
        }
    }

    private func nonFinite(_ value: Any, codingPath: [any CodingKey]) -> EncodingError {
        EncodingError.invalidValue(
            value,
            EncodingError.Context(
                codingPath: codingPath,
                debugDescription: "Unable to encode \(value) directly in JSON. Use a non-finite floating-point strategy."))
    }

    /// Writes a `Decimal` as a JSON number, as `JSONEncoder` does.
    func writeDecimal(_ value: Decimal) {
        bytes.append(contentsOf: value.description.utf8)
    }

    /// Writes a JSON string: `"` and `\` escaped, `/` as `\/`, control characters as `\b \f \n \r \t`
    /// or `\u00XX`, everything else as its UTF-8.
    func writeString(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            bytes.append(UInt8(ascii: "\""))
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/")
                else { continue }
                if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
                runStart = index + 1
                bytes.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(byte)
                case 0x08: bytes.append(UInt8(ascii: "b"))
                case 0x0C: bytes.append(UInt8(ascii: "f"))
                case 0x0A: bytes.append(UInt8(ascii: "n"))
                case 0x0D: bytes.append(UInt8(ascii: "r"))
                case 0x09: bytes.append(UInt8(ascii: "t"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [
                        UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)],
                    ])
                }
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
            bytes.append(UInt8(ascii: "\""))
        }
    }
}
