#!/usr/bin/env bash
# The DocC documentation of the two library products, built with swift-docc-plugin (`swift package
# generate-documentation`) as one archive: .build/docs/swift-event-sourcing.doccarchive (`make docs`,
# and part of `make test`). Fails on any DocC warning, and on any public declaration without a doc
# comment of its own.
#
# SwiftPM, whose symbol graph extraction the plugin uses, extracts only the symbols a module
# declares itself, and EventSourcing declares none: it re-exports EventSourcingCore, LogStore and
# SQLiteStore. Here swift-symbolgraph-extract puts their public symbols in EventSourcing's symbol
# graph (-experimental-allowed-reexported-modules), so the reference is of the module users import,
# and the plugin converts that graph (--additional-symbol-graph-dir, which takes the place of the
# plugin's own). EventSourcingPostgres is converted alike, linking into the first archive, and
# `docc merge` joins the two. See docs/DESIGN.md, "Documentation".
set -euo pipefail
cd "$(dirname "$0")/.."

swift=${SWIFT:-swift}
# The tools of the toolchain that built the modules (found by its resource directory, which also
# works when `swift` is a proxy such as swiftly's): the extractor must be the compiler's own.
resources=$("$swift" -print-target-info | sed -n 's/.*"runtimeResourcePath": *"\(.*\)".*/\1/p')
toolchain=$(cd "$resources/../../bin" && pwd)
docc=${DOCC:-$toolchain/docc}
extract=$toolchain/swift-symbolgraph-extract
bin=$("$swift" build --show-bin-path)
out=.build/docs
work=$out/intermediates

rm -rf "$out"
mkdir -p "$work"

# Every C module the Swift modules import, for the extractor to load them: the module maps that
# SwiftPM generated for C targets, and those that targets (here and in dependencies) ship.
clang_args=()
for map in "$bin"/*.build/module.modulemap "$PWD"/Sources/*/module.modulemap \
    "$PWD"/Sources/*/include/module.modulemap "$PWD"/.build/checkouts/*/Sources/*/include/module.modulemap; do
    if [ -f "$map" ]; then clang_args+=(-Xcc "-fmodule-map-file=$map"); fi
done
for include in "$PWD"/Sources/*/include "$PWD"/.build/checkouts/*/Sources/*/include; do
    if [ -d "$include" ]; then clang_args+=(-Xcc -I -Xcc "$include"); fi
done

# extract MODULE [RE-EXPORTED MODULES]: MODULE's public symbols, without the members every type
# inherits from the standard library's protocols (map, filter, !=...).
extract() {
    mkdir -p "$work/symbol-graphs/$1"
    "$extract" -module-name "$1" -I "$bin/Modules" "${clang_args[@]}" \
        -module-cache-path "$work/module-cache" -minimum-access-level public \
        -skip-synthesized-members -emit-extension-block-symbols \
        ${2:+-experimental-allowed-reexported-modules="$2"} -output-dir "$work/symbol-graphs/$1"
    # A re-exported symbol's doc comment names the module it was written in, and DocC takes a
    # comment of another module as inherited: it checks no parameters or returns in it, and shows
    # "Inherited from Hashable.hash(into:)." in its place on a member that implements a standard
    # library requirement. Name MODULE instead: every comment is checked and shown.
    if [ -n "${2:-}" ]; then
        sed -i -E "s/\"module\":\"(${2//,/|})\"/\"module\":\"$1\"/g" "$work/symbol-graphs/$1/$1.symbols.json"
    fi
}
extract EventSourcing EventSourcingCore,LogStore,SQLiteStore
extract EventSourcingPostgres

"$swift" scripts/check-doc-comments.swift "$work"/symbol-graphs/*/*.symbols.json

# convert MODULE [DOCC OPTIONS]: the plugin converts the catalog beside MODULE's sources with the
# symbol graph extracted above (the plugin builds MODULE first, a no-op after `swift build`).
convert() {
    local module=$1
    shift
    DOCC_EXEC=$docc "$swift" package --allow-writing-to-directory "$work" generate-documentation \
        --target "$module" --additional-symbol-graph-dir "$work/symbol-graphs/$module" \
        --enable-experimental-external-link-support --warnings-as-errors --disable-indexing \
        --output-path "$work/$module.doccarchive" "$@"
}
convert EventSourcing
convert EventSourcingPostgres --dependency "$work/EventSourcing.doccarchive"

"$docc" merge "$work/EventSourcing.doccarchive" "$work/EventSourcingPostgres.doccarchive" \
    --synthesized-landing-page-name swift-event-sourcing --output-path "$out/swift-event-sourcing.doccarchive"
echo "Documentation: $out/swift-event-sourcing.doccarchive (serve it, for example with" \
    "'python3 -m http.server -d $out/swift-event-sourcing.doccarchive', and open /documentation)"
