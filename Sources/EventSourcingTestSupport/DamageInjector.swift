import Foundation

/// Damage to one file of a closed store (RELIABILITY.md, fault 3): bit flips, zeroed and junk
/// blocks, junk appended, truncation, deletion, or an older copy of the file put back.
///
/// Thread-safety: stateless.
package enum DamageInjector {
    /// A kind of damage.
    package enum Kind: String, Sendable, CaseIterable {
        case bitFlips = "bit flips"
        case zeroedBlock = "zeroed block"
        case junkBlock = "junk block"
        case appendedJunk = "appended junk"
        case truncation
        case deletion
        /// The file as an earlier clean close left it.
        case staleCopy = "stale copy"

        /// Whether the damage changes bytes the file held (not only what follows its end).
        package var changesHeldBytes: Bool { self != .appendedJunk }
    }

    /// What a damage did.
    package struct Outcome: Sendable, CustomStringConvertible {
        package var kind: Kind
        package var file: String
        /// Bytes whose value changed, or that were cut off or removed.
        package var bytesChanged = 0
        package var bitsFlipped = 0
        /// Where the first changed byte is (the size before, for appended junk).
        package var firstOffset = 0
        package var description: String { "\(kind.rawValue) in \(file) at \(firstOffset) (\(bytesChanged) bytes)" }
    }

    /// Damages the file at `path` (a regular file), with `stalePath` the same file from an
    /// earlier state of the store for `.staleCopy`.
    /// - Returns: what changed; `nil` when the damage changed nothing (a stale copy identical to
    ///   the file, a truncation of an empty file).
    package static func damage(
        _ path: String, kind: Kind, stalePath: String?, random: inout SeededRandom
    ) -> Outcome? {
        guard var bytes = StoreDirectory.read(path) else { return nil }
        let name = String(path[path.index(after: path.lastIndex(of: "/")!)...])
        var outcome = Outcome(kind: kind, file: name)
        let original = bytes
        switch kind {
        case .bitFlips:
            guard !bytes.isEmpty else { return nil }
            for _ in 0..<random.int(1...4) {
                let offset = random.int(0..<bytes.count)
                bytes[offset] ^= UInt8(1) << UInt8(random.int(0..<8))
                outcome.bitsFlipped += 1
            }
        case .zeroedBlock, .junkBlock:
            guard !bytes.isEmpty else { return nil }
            let length: Int
            let start: Int
            if random.chance(0.5) {
                let block = random.pick([512, 4096])
                start = random.int(0...(bytes.count - 1) / block) * block
                length = min(block, bytes.count - start)
            } else {
                start = random.int(0..<bytes.count)
                length = min(random.int(1...600), bytes.count - start)
            }
            let replacement = kind == .zeroedBlock ? [UInt8](repeating: 0, count: length) : random.bytes(length)
            bytes.replaceSubrange(start..<start + length, with: replacement)
        case .appendedJunk:
            outcome.firstOffset = bytes.count
            let junk =
                random.chance(0.5)
                ? random.bytes(random.int(1...700)) : [UInt8](repeating: 0, count: random.int(1...4096))
            bytes += junk
            outcome.bytesChanged = junk.count
            StoreDirectory.write(path, bytes)
            return outcome
        case .truncation:
            guard !bytes.isEmpty else { return nil }
            let size = random.chance(0.3) ? random.int(0..<min(bytes.count, 128)) : random.int(0..<bytes.count)
            outcome.firstOffset = size
            outcome.bytesChanged = bytes.count - size
            bytes.removeLast(bytes.count - size)
            StoreDirectory.write(path, bytes)
            return outcome
        case .deletion:
            outcome.bytesChanged = bytes.count
            StoreDirectory.remove(path)
            return outcome
        case .staleCopy:
            guard let stalePath, let stale = StoreDirectory.read(stalePath), stale != bytes else { return nil }
            bytes = stale
        }
        let common = min(original.count, bytes.count)
        var changed = abs(original.count - bytes.count)
        var first: Int?
        for index in 0..<common where original[index] != bytes[index] {
            changed += 1
            if first == nil { first = index }
        }
        guard changed > 0 else { return nil }
        outcome.bytesChanged = changed
        outcome.firstOffset = first ?? common
        StoreDirectory.write(path, bytes)
        return outcome
    }
}
