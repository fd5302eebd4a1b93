// Hono's JWT middleware (`hono/jwt`), which needs `crypto.subtle` (HMAC) at construction and per
// request; bundled by esbuild for daemon/tests/e2e_frameworks.rs. Signs tokens itself too.
import { Hono } from "hono";
import { jwt, sign } from "hono/jwt";

const app = new Hono();

app.use("/secure/*", (c, next) => jwt({ secret: c.env.JWT_SECRET, alg: "HS256" })(c, next));

app.get("/secure/me", (c) => c.json({ payload: c.get("jwtPayload") }));

app.post("/token", async (c) => {
  const { sub } = await c.req.json();
  const token = await sign({ sub, exp: Math.floor(Date.now() / 1000) + 600 }, c.env.JWT_SECRET, "HS256");
  return c.json({ token });
});

export default app;
