// Bundles app.js (`node build.mjs app.js` → app.js.bundle.mjs) as Wrangler bundles a worker for
// nodejs_compat: one ES module, the runtime's Node built-ins and `cloudflare:*` left to the
// runtime, a CommonJS `require("http")` turned into an import of `node:http` whose default export
// is what require returns. `fs`, which Express reaches only to send files and render views, is an
// empty module that throws if used but for its `Stats` class (Stockade has no node:fs); `tty`, which `debug` asks whether
// stderr is a terminal when it loads, answers no (Wrangler's unenv polyfills stand in for both).
import { build } from "esbuild";

const BUILTIN = /^(node:)?(async_hooks|buffer|crypto|diagnostics_channel|events|http|https|net|path|querystring|stream(\/(promises|web|consumers))?|string_decoder|url|util(\/types)?|zlib)$/;
const ABSENT = /^(node:)?fs$/;
const TTY = /^(node:)?tty$/;

const nodejsCompat = {
  name: "nodejs-compat",
  setup(b) {
    b.onResolve({ filter: /^cloudflare:/ }, (args) => ({ path: args.path, external: true }));
    b.onResolve({ filter: ABSENT }, (args) => ({ path: args.path, namespace: "absent" }));
    b.onLoad({ filter: /.*/, namespace: "absent" }, (args) => ({
      // `Stats` is a class (etag asks `instanceof fs.Stats`), as unenv's; anything else throws.
      contents: `class Stats {} module.exports = new Proxy({ Stats }, { get(t, key) { if (key in t) return t[key]; throw new Error(${JSON.stringify(args.path)} + " is not available (used: " + String(key) + ")"); } });`,
      loader: "js",
    }));
    b.onResolve({ filter: TTY }, (args) => ({ path: args.path, namespace: "tty" }));
    b.onLoad({ filter: /.*/, namespace: "tty" }, () => ({
      contents: "module.exports = { isatty: () => false };",
      loader: "js",
    }));
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
    conditions: ["workerd", "worker"],
    logLevel: "warning",
    plugins: [nodejsCompat],
    outfile: `${app}.bundle.mjs`,
  });
}
