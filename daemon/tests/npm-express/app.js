// An Express 5 app served as a Worker through cloudflare:node's httpServerHandler, as
// Cloudflare's documentation shows (daemon/tests/e2e_npm_express.rs calls it over HTTP).
import { httpServerHandler } from "cloudflare:node";
import express from "express";

const app = express();
app.use(express.json());

const users = new Map([["1", { id: "1", name: "Ada" }]]);

app.get("/", (req, res) => {
  res.json({ hello: "express", protocol: req.protocol, query: req.query });
});
app.get("/users/:id", (req, res) => {
  const user = users.get(req.params.id);
  if (!user) return res.status(404).json({ error: `no user ${req.params.id}` });
  res.set("X-User", user.id).json(user);
});
app.post("/users", (req, res) => {
  if (typeof req.body?.name !== "string") return res.status(400).json({ error: "name required" });
  const id = String(users.size + 1);
  users.set(id, { id, name: req.body.name });
  res.status(201).location(`/users/${id}`).json(users.get(id));
});
app.get("/headers", (req, res) => {
  res.type("text").send(`${req.get("x-client")}|${req.headers["accept"] ?? ""}`);
});
app.get("/stream", (req, res) => {
  res.setHeader("content-type", "text/plain");
  res.write("a,");
  setTimeout(() => { res.write("b,"); res.end("c"); }, 10);
});
app.use((err, req, res, next) => {
  res.status(err.status ?? 500).json({ error: err.type ?? err.message });
});

app.listen(3000);
export default httpServerHandler({ port: 3000 });
