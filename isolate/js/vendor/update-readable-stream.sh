#!/bin/sh
# Regenerates readable-stream.js (and its LICENSE) from npm's readable-stream, Node's own streams
# code as a userland package (MIT), bundled by esbuild into one function of the prelude's lazy
# node:stream group (isolate/src/lazy/mod.rs). The tarball is checked against the integrity hash
# pinned here before anything of it is used. The bundle takes its dependencies from the runtime
# (node:buffer, node:events, process.nextTick, node:string_decoder, AbortController, Blob) through
# the parameter `__stockadeDeps` of `vendoredReadableStream`; node-stream.js passes them.
#
# Run from anywhere: isolate/js/vendor/update-readable-stream.sh (needs node, npm, openssl).
set -eu

VERSION=4.7.0
INTEGRITY=sha512-oIGGmcpTLwPga8Bn6/Z75SVaH1z5dUut2ibSyAMVhmUggWpmDn2dapB0n7f8nwaSiRtepAsfJyfXIO5DCVAODg==
ESBUILD=0.28.2

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

npm pack --silent "readable-stream@$VERSION" >/dev/null
TARBALL=readable-stream-$VERSION.tgz
GOT="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 | tr -d '\n')"
if [ "$GOT" != "$INTEGRITY" ]; then
  echo "readable-stream $VERSION: integrity $GOT, expected $INTEGRITY" >&2
  exit 1
fi
tar xzf "$TARBALL"
npm install --silent --no-save --no-package-lock "esbuild@$ESBUILD" >/dev/null

cat > build.mjs <<'JS'
import { build } from "esbuild";
// The runtime's modules in place of readable-stream's npm dependencies.
const deps = {
  buffer: "module.exports = __stockadeDeps.buffer;",
  events: "module.exports = __stockadeDeps.events;",
  "process/": "module.exports = __stockadeDeps.process;",
  "abort-controller": "module.exports = { AbortController: __stockadeDeps.AbortController, AbortSignal: __stockadeDeps.AbortSignal };",
  "string_decoder/": "module.exports = __stockadeDeps.string_decoder;",
};
const runtime = {
  name: "stockade-runtime",
  setup(b) {
    b.onResolve({ filter: /^(buffer|events|process\/|abort-controller|string_decoder\/)$/ }, (a) => ({ path: a.path, namespace: "dep" }));
    b.onLoad({ filter: /.*/, namespace: "dep" }, (a) => ({ contents: deps[a.path], loader: "js" }));
  },
};
await build({
  stdin: { contents: "module.exports = require('./package/lib/stream.js');", resolveDir: ".", loader: "js" },
  bundle: true,
  format: "iife",
  globalName: "__readableStream",
  platform: "neutral",
  target: "es2022",
  legalComments: "none",
  charset: "utf8",
  // Globals the library would read live (possibly replaced by tenant code by then): the runtime's.
  define: {
    "globalThis.AbortSignal": "__stockadeDeps.AbortSignal",
    "globalThis.AbortController": "__stockadeDeps.AbortController",
    "globalThis.Blob": "__stockadeDeps.Blob",
    "globalThis.AggregateError": "__stockadeDeps.AggregateError",
  },
  plugins: [runtime],
  outfile: "bundle.js",
});
JS
node build.mjs

{
  echo "// ---- vendor/readable-stream.js: readable-stream $VERSION (npm; Node's streams as a userland"
  echo "// package, MIT: vendor/readable-stream.LICENSE), bundled by update-readable-stream.sh with"
  echo "// esbuild $ESBUILD. Generated: do not edit. One function, so that nothing of it runs before the"
  echo "// first import of node:stream; node-stream.js calls it with the runtime's modules."
  echo "function vendoredReadableStream(__stockadeDeps) {"
  cat bundle.js
  echo "return __readableStream;"
  echo "}"
} > "$HERE/readable-stream.js"
cp package/LICENSE "$HERE/readable-stream.LICENSE"
echo "wrote $HERE/readable-stream.js ($(wc -c < "$HERE/readable-stream.js") bytes)"
