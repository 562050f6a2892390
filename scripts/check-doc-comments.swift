// Every public declaration has a doc comment of its own (STYLE.md), checked on the symbol graphs
// that scripts/build-docs.sh extracts: DocC itself says nothing about a symbol without one.
//
// A declaration's own comment is one written at it: a symbol graph gives a member that has none
// the comment of the requirement it implements (the standard library's, for `==`), from another
// file or with no file at all. Prints `file:line: error:` for each, and exits 1 if there is any.
//
// Usage: swift scripts/check-doc-comments.swift <symbol graph JSON>...
import Foundation

var missing: [String] = []
for path in CommandLine.arguments.dropFirst() {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    guard let graph = try JSONSerialization.jsonObject(with: data) as? [String: Any],
        let symbols = graph["symbols"] as? [[String: Any]]
    else {
        FileHandle.standardError.write(Data("\(path) is not a symbol graph\n".utf8))
        exit(2)
    }
    for symbol in symbols {
        // Symbols without a place in a source file (synthesized ones) have no comment to write.
        guard let location = symbol["location"] as? [String: Any], let file = location["uri"] as? String else {
            continue
        }
        let comment = symbol["docComment"] as? [String: Any]
        guard comment?["uri"] as? String != file else { continue }
        let name = (symbol["pathComponents"] as? [String] ?? []).joined(separator: ".")
        let line = ((location["position"] as? [String: Any])?["line"] as? Int).map { $0 + 1 } ?? 0
        let root = FileManager.default.currentDirectoryPath + "/"
        var source = URL(string: file)?.path ?? file
        if source.hasPrefix(root) { source.removeFirst(root.count) }
        missing.append("\(source):\(line): error: public '\(name)' has no doc comment of its own")
    }
}
for line in missing.sorted() { print(line) }
if !missing.isEmpty {
    print("\(missing.count) public declarations without a doc comment (STYLE.md: a one-line summary at least)")
    exit(1)
}
