/// The command line of `reliability`: `--name value` options after a command, and what is left.
struct Arguments {
    private(set) var values: [String: String] = [:]
    private(set) var rest: [String] = []

    init(_ arguments: ArraySlice<String>) {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            if argument.hasPrefix("--"), argument.count > 2 {
                values[String(argument.dropFirst(2))] = iterator.next() ?? ""
            } else {
                rest.append(argument)
            }
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func int(_ name: String) -> Int? { values[name].flatMap { Int($0) } }

    func double(_ name: String) -> Double? { values[name].flatMap { Double($0) } }

    /// A seed: the option's value, or a fresh random one (printed with the results).
    func seed() -> UInt64 { values["seed"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...999_999_999) }
}
