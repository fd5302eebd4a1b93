// A Hono app as a Workers user writes it, bundled by esbuild for daemon/tests/e2e_frameworks.rs:
// middleware that changes the response after `await next()` (the `new Response(res.body, res)`
// pattern and `c.header` afterwards), JSON, forms (`c.req.parseBody()`), server-sent events
// (`hono/streaming`), CORS, and the client's own Authorization header.
import { Hono } from "hono";
import { cors } from "hono/cors";
import { streamSSE } from "hono/streaming";

const app = new Hono();

// Rewrites every response after the handler ran, as Cloudflare's docs show it.
app.use("*", async (c, next) => {
  await next();
  c.res = new Response(c.res.body, c.res);
  c.res.headers.set("x-rewritten", "yes");
  c.header("x-powered-by", "hono-on-stockade");
});

app.use("/api/*", cors({
  origin: "https://app.example",
  allowHeaders: ["Authorization", "Content-Type"],
  allowMethods: ["GET", "POST", "PUT"],
  exposeHeaders: ["x-rewritten"],
  maxAge: 600,
  credentials: true,
}));

app.get("/hello", (c) => c.text("hello from hono"));

app.get("/api/users/:id", (c) =>
  c.json({ id: c.req.param("id"), q: c.req.query("q") ?? null, ua: navigator.userAgent }));

app.post("/api/echo", async (c) => {
  const body = await c.req.json();
  return c.json({ got: body, type: c.req.header("content-type") }, 201);
});

app.post("/form", async (c) => {
  const body = await c.req.parseBody();
  const out = {};
  for (const [k, v] of Object.entries(body)) {
    out[k] = typeof v === "string" ? v : { name: v.name, type: v.type, size: v.size, text: await v.text() };
  }
  return c.json(out);
});

app.get("/whoami", (c) => c.json({ authorization: c.req.header("Authorization") ?? null }));

app.get("/sse", (c) =>
  streamSSE(c, async (stream) => {
    for (let i = 0; i < 3; i++) {
      await stream.writeSSE({ event: "tick", id: String(i), data: JSON.stringify({ i }) });
      await stream.sleep(20);
    }
  }));

app.notFound((c) => c.json({ error: "not found", path: c.req.path }, 404));

app.onError((err, c) => c.json({ error: String(err && err.message) }, 500));

export default app;
