/// A deterministic random number generator (splitmix64): the same seed gives the same sequence in
/// every process and release, so every harness replays exactly from its seed.
///
/// Thread-safety: a value type; each harness owns its own.
package struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator from `seed`.
    package init(seed: UInt64) { state = seed }

    /// A generator for a named sub-purpose of `seed` (a round, an operation), independent of how
    /// many numbers the parent has drawn.
    package init(seed: UInt64, stream: UInt64) {
        state = Self.mix(seed &+ Self.mix(stream &+ 0x9E37_79B9_7F4A_7C15))
    }

    /// The splitmix64 finalizer: full avalanche.
    package static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// A uniform integer in `range`.
    package mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    /// A uniform integer in `range`.
    package mutating func int(_ range: Range<Int>) -> Int { Int.random(in: range, using: &self) }

    /// `true` with probability `probability`.
    package mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }

    /// One of `elements`, uniformly.
    package mutating func pick<T>(_ elements: [T]) -> T {
        precondition(!elements.isEmpty, "pick from an empty list")
        return elements[int(0..<elements.count)]
    }

    /// One of `choices`, with probability proportional to its weight.
    package mutating func weighted<T>(_ choices: [(T, Int)]) -> T {
        let total = choices.reduce(0) { $0 + $1.1 }
        precondition(total > 0, "weights must add up to more than 0")
        var roll = int(0..<total)
        for (choice, weight) in choices {
            if roll < weight { return choice }
            roll -= weight
        }
        return choices[choices.count - 1].0
    }

    /// `count` random bytes.
    package mutating func bytes(_ count: Int) -> [UInt8] {
        var result = [UInt8]()
        result.reserveCapacity(count + 8)
        while result.count < count {
            withUnsafeBytes(of: next()) { result.append(contentsOf: $0) }
        }
        result.removeLast(result.count - count)
        return result
    }
}
