/// An SQL `LIKE` pattern: `%` matches any run of characters, `_` exactly one; ASCII letters
/// compare case-insensitively; there is no escape character.
package struct LikePattern: Sendable, Hashable {
    private enum Token: Hashable {
        case scalar(UInt32)
        case one, any
    }
    private let tokens: [Token]
    /// The pattern as given (for stores that evaluate it in SQL).
    package let source: String

    /// Prepares `pattern`.
    package init(_ pattern: String) {
        source = pattern
        tokens = pattern.unicodeScalars.map { scalar in
            switch scalar {
            case "%": return .any
            case "_": return .one
            default: return .scalar(LikePattern.folded(scalar.value))
            }
        }
    }

    private static func folded(_ value: UInt32) -> UInt32 {
        (0x41...0x5A).contains(value) ? value + 0x20 : value
    }

    /// Whether `text` matches the whole pattern.
    /// - Complexity: O(n·m) in the worst case, for n characters and m pattern tokens.
    package func matches(_ text: String) -> Bool {
        let scalars = text.unicodeScalars.map { LikePattern.folded($0.value) }
        var textIndex = 0
        var tokenIndex = 0
        var starToken = -1
        var starText = 0
        while textIndex < scalars.count {
            if tokenIndex < tokens.count {
                switch tokens[tokenIndex] {
                case .any:
                    starToken = tokenIndex
                    starText = textIndex
                    tokenIndex += 1
                    continue
                case .one:
                    textIndex += 1
                    tokenIndex += 1
                    continue
                case .scalar(let value) where value == scalars[textIndex]:
                    textIndex += 1
                    tokenIndex += 1
                    continue
                default:
                    break
                }
            }
            // Mismatch: let the last % absorb one more character, or fail.
            guard starToken >= 0 else { return false }
            starText += 1
            textIndex = starText
            tokenIndex = starToken + 1
        }
        while tokenIndex < tokens.count, tokens[tokenIndex] == .any { tokenIndex += 1 }
        return tokenIndex == tokens.count
    }
}
