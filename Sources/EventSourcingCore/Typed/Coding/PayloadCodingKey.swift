/// The coding keys `PayloadEncoder` and `PayloadDecoder` make up: array indices in coding paths,
/// and `"super"`.
///
/// Thread-safety: a value type; safe to share.
struct PayloadCodingKey: CodingKey {
    /// The key as text.
    let stringValue: String
    /// The index, for array positions.
    let intValue: Int?

    /// The key `"super"`, under which `superEncoder()` and `superDecoder()` work.
    static let `super` = PayloadCodingKey(stringValue: "super")

    /// A key named `stringValue`.
    init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    /// A key for index `intValue`.
    init(intValue: Int) {
        self.stringValue = "Index \(intValue)"
        self.intValue = intValue
    }

    /// A key for array position `index`.
    init(index: Int) { self.init(intValue: index) }
}
