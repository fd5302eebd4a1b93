// An itty-router (v5) app as its README writes one, bundled by esbuild for
// daemon/tests/e2e_frameworks.rs: AutoRouter, params and query, JSON in and out, CORS through
// `cors()` (whose corsify rebuilds every response as `new Response(res.body, res)`), errors.
import { AutoRouter, cors, error, json, StatusError } from "itty-router";

const { preflight, corsify } = cors({
  origin: ["https://app.example"],
  allowMethods: ["GET", "POST", "DELETE"],
  allowHeaders: ["Authorization", "Content-Type"],
  credentials: true,
  maxAge: 600,
});

const router = AutoRouter({ before: [preflight], finally: [corsify] });

router
  .get("/items/:id", ({ params, query }) => ({ id: params.id, q: query.q ?? null }))
  .get("/files/:dir/:name.:ext", ({ params }) => params)
  .post("/items", async (request) => json({ created: await request.json() }, { status: 201 }))
  .get("/auth", (request) => ({ authorization: request.headers.get("authorization") }))
  .get("/teapot", () => error(418, "short and stout"))
  .get("/throws", () => { throw new StatusError(400, "bad input"); })
  .get("/text", () => new Response("plain body, a few bytes long", { headers: { "content-type": "text/plain" } }));

export default router;
