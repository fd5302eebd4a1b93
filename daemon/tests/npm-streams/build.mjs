// Bundles each app given on the command line (`node build.mjs app.js ...` → app.js.bundle.mjs) as
// Wrangler bundles a worker for nodejs_compat: one ES module, Node's built-ins left to the
// runtime. `import ... from "stream"` stays an import of `node:stream`, and a CommonJS
// `require("stream")` (busboy, split2) becomes an import of `node:stream` whose default export is
// what require returns (Wrangler's nodejs_compat plugin does the same), since an ES module worker
// has no `require`.
import { build } from "esbuild";

const BUILTIN = /^(node:)?(buffer|events|stream(\/(promises|web|consumers))?|string_decoder|zlib|util|crypto)$/;

const nodejsCompat = {
  name: "nodejs-compat",
  setup(b) {
    b.onResolve({ filter: BUILTIN }, (args) => {
      const name = args.path.startsWith("node:") ? args.path : `node:${args.path}`;
      if (args.kind === "require-call") return { path: name, namespace: "node-require" };
      return { path: name, external: true };
    });
    b.onLoad({ filter: /.*/, namespace: "node-require" }, (args) => ({
      contents: `import lib from ${JSON.stringify(args.path)}; module.exports = lib;`,
      loader: "js",
    }));
    b.onResolve({ filter: /^node:/, namespace: "node-require" }, (args) => ({ path: args.path, external: true }));
  },
};

for (const app of process.argv.slice(2)) {
  await build({
    entryPoints: [app],
    bundle: true,
    format: "esm",
    platform: "neutral",
    mainFields: ["module", "main"],
    conditions: ["workerd", "worker", "import"],
    logLevel: "warning",
    plugins: [nodejsCompat],
    outfile: `${app}.bundle.mjs`,
  });
}
