// Bundles each app given (`node build.mjs app.js ...` → app.js.bundle.mjs) as Wrangler bundles a
// worker for nodejs_compat; the npm fixture folders' tests (daemon/tests/npm-*/) all use it
// (`npm::built_by_folder` copies it beside their apps). Each bundle is one ES module:
// - the runtime's Node built-ins and `cloudflare:*` stay imports for the runtime, and a CommonJS
//   `require("events")` becomes an import of `node:events` whose default export is what require
//   returns (an ES module worker has no `require`), as Wrangler's nodejs_compat plugin does;
// - packages resolve with their `workerd` export conditions (so `pg` takes `pg-cloudflare`); an
//   app named `*.node.js` resolves with Node's instead (so `postgres` takes its Node build, on
//   node:net);
// - what the fixtures' packages import but never use on the paths tested stands in as Wrangler's
//   unenv polyfills do: `fs` and `dns` throw when used (but `fs.Stats`, a class: Express's etag
//   asks `instanceof fs.Stats`);
// - `tty` is the runtime's `node:tty` (from compatibility date 2026-03-17, as on workerd: the
//   fixtures' workers name a later date), whose `isatty()` `debug` asks at load.
import { build } from "esbuild";

const BUILTIN = /^(node:)?(async_hooks|buffer|crypto|diagnostics_channel|events|http|https|net|os|path|querystring|stream(\/(promises|web|consumers))?|string_decoder|tls|tty|url|util(\/types)?|zlib)$/;
const ABSENT = /^(node:)?(fs|dns)$/;

const nodejsCompat = {
  name: "nodejs-compat",
  setup(b) {
    b.onResolve({ filter: /^cloudflare:/ }, (args) => ({ path: args.path, external: true }));
    b.onResolve({ filter: ABSENT }, (args) => ({ path: args.path, namespace: "absent" }));
    b.onLoad({ filter: /.*/, namespace: "absent" }, (args) => ({
      contents: `class Stats {} module.exports = new Proxy({ Stats }, { get(t, key) { if (key in t) return t[key]; throw new Error(${JSON.stringify(args.path)} + " is not available (used: " + String(key) + ")"); } });`,
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
    conditions: app.endsWith(".node.js") ? ["node"] : ["workerd", "worker"],
    logLevel: "warning",
    plugins: [nodejsCompat],
    outfile: `${app}.bundle.mjs`,
  });
}
