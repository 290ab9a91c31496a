#!/usr/bin/env bash
# vendor-graphiql.sh writes internal/web/graphiql/: GraphiQL and the React it
# runs on, from their npm packages, so that the hub serves its query explorer
# from the binary and nothing loads from elsewhere. The files are committed;
# run this only to change a version. Needs Node.js and npm.
#
# GraphiQL 3.8 is the last release with a browser bundle (graphiql.min.js) that
# needs no bundler; it runs on React 18's UMD builds. Its bundle is built in
# webpack's development mode, so esbuild minifies it (the licence comments kept,
# at the end of the file). All three packages are MIT-licensed: their LICENSE
# files are copied beside them.
set -euo pipefail

GRAPHIQL=3.8.3
REACT=18.3.1
ESBUILD=0.25.0

root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/internal/web/graphiql"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cd "$work"
npm pack --silent "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT" "esbuild@$ESBUILD" "@esbuild/linux-x64@$ESBUILD" >/dev/null
for f in *.tgz; do
	mkdir -p "${f%.tgz}"
	tar xzf "$f" -C "${f%.tgz}"
done
esbuild="$work/esbuild-linux-x64-$ESBUILD/package/bin/esbuild"

rm -rf "$out/assets" "$out/LICENSES"
mkdir -p "$out/assets" "$out/LICENSES"
"$esbuild" "graphiql-$GRAPHIQL/package/graphiql.min.js" --minify --legal-comments=eof --log-level=error \
	--outfile="$out/assets/graphiql.min.js"
"$esbuild" "graphiql-$GRAPHIQL/package/graphiql.min.css" --minify --legal-comments=eof --log-level=error \
	--outfile="$out/assets/graphiql.min.css"
cp "react-$REACT/package/umd/react.production.min.js" "$out/assets/"
cp "react-dom-$REACT/package/umd/react-dom.production.min.js" "$out/assets/"
cp "graphiql-$GRAPHIQL/package/LICENSE" "$out/LICENSES/graphiql.txt"
cp "react-$REACT/package/LICENSE" "$out/LICENSES/react.txt"
cp "react-dom-$REACT/package/LICENSE" "$out/LICENSES/react-dom.txt"

{
	echo "# What internal/web/graphiql/assets holds; written by scripts/vendor-graphiql.sh."
	echo "graphiql $GRAPHIQL MIT (graphiql.min.js, graphiql.min.css; minified with esbuild $ESBUILD)"
	echo "react $REACT MIT (umd/react.production.min.js)"
	echo "react-dom $REACT MIT (umd/react-dom.production.min.js)"
	echo
	(cd "$out/assets" && sha256sum -- *)
} >"$out/VERSIONS"
echo "vendor-graphiql.sh: wrote $out"
