// Bundles each app given (`node build.mjs app.js ...` → app.js.bundle.mjs) as Wrangler bundles a
// worker for nodejs_compat, resolving packages' `workerd` export conditions (so `pg` takes
// `pg-cloudflare`, on cloudflare:sockets); an app named `*.node.js` is resolved with Node's
// conditions instead (so `postgres` takes its Node build, on node:net). Each bundle is one ES
// module: the runtime's Node built-ins and `cloudflare:sockets` left to the runtime, a CommonJS
// `require("events")` turned into an import of `node:events` whose default export is what require
// returns. Node modules the runtime does not have and that the drivers only reach on paths these
// tests do not take (`dns` for a `client_encoding` lookup, `fs` for a ~/.pgpass or certificate
// file) resolve to a module that throws if used, as Wrangler's unenv polyfills stand in for them.
import { build } from "esbuild";

const BUILTIN = /^(node:)?(buffer|events|stream(\/(promises|web|consumers))?|string_decoder|util(\/types)?|crypto|path|os|net|tls|diagnostics_channel)$/;
const ABSENT = /^(node:)?(dns|fs)$/;

const nodejsCompat = {
  name: "nodejs-compat",
  setup(b) {
    b.onResolve({ filter: /^cloudflare:/ }, (args) => ({ path: args.path, external: true }));
    b.onResolve({ filter: ABSENT }, (args) => ({ path: args.path, namespace: "absent" }));
    b.onLoad({ filter: /.*/, namespace: "absent" }, (args) => ({
      contents: `module.exports = new Proxy({}, { get(_, key) { throw new Error(${JSON.stringify(args.path)} + " is not available (used: " + String(key) + ")"); } });`,
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
