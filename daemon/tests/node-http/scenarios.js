// node:http client scenarios, run both by a Stockade worker (daemon/tests/e2e_node_http.rs) and
// by Node 20 itself (run-under-node.mjs) against the same server: the test asserts both logs
// are the same. Each scenario resolves with a log of what the client saw.
import http from "node:http";
import https from "node:https";

const pick = (h, keys) => Object.fromEntries(keys.map((k) => [k, h[k] ?? null]));
const HEADS = ["content-type", "set-cookie", "x-dup", "x-echo"];

/** Follows `req` to its end: the request's and the response's events, in order. */
function follow(req, log) {
  return new Promise((resolve) => {
    for (const e of ["finish", "abort", "timeout"]) req.on(e, () => log.push(`req:${e}`));
    req.on("error", (e) => log.push(`req:error:${e.code ?? "none"}`));
    req.on("close", () => { log.push("req:close"); setTimeout(() => resolve(log), 50); });
    req.on("response", (res) => {
      log.push(`response:${res.statusCode}:${res.statusMessage}:${res.httpVersion}`);
      log.push(JSON.stringify(pick(res.headers, HEADS)));
      res.setEncoding("utf8");
      let body = "";
      res.on("data", (d) => { body += d; });
      res.on("end", () => log.push(`res:end:${body}`));
      res.on("close", () => log.push("res:close"));
    });
  });
}

export const scenarios = {
  async get(port) {
    const req = http.get({ host: "127.0.0.1", port, path: "/echo?x=1", headers: { "X-Custom": "c" } });
    return follow(req, []);
  },
  async postParts(port) {
    const log = [];
    const req = http.request(`http://127.0.0.1:${port}/echo`, { method: "POST", headers: { "content-type": "text/plain" } });
    req.write("a");
    req.write(Buffer.from("b"), () => log.push("written"));
    setTimeout(() => req.end("c"), 20);
    return follow(req, log);
  },
  async postWhole(port) {
    const req = http.request({ host: "127.0.0.1", port, path: "/echo", method: "PUT" });
    req.setHeader("X-List", ["1", "2"]);
    req.end("whole");
    return follow(req, []);
  },
  async missing(port) {
    return follow(http.get(`http://127.0.0.1:${port}/missing`), []);
  },
  async stream(port) {
    const log = [];
    const req = http.get(`http://127.0.0.1:${port}/stream`, (res) => {
      res.on("data", (d) => {
        log.push(`data:${d}`);
        if (String(d) === "first;") http.get(`http://127.0.0.1:${port}/release`).on("response", (r) => r.resume());
      });
      res.on("end", () => log.push("end"));
    });
    return new Promise((resolve) => req.on("close", () => resolve(log)));
  },
  async denied(port) {
    return follow(http.get(`http://127.0.0.2:${port}/`), []);
  },
  async https(port) {
    const log = [];
    try { https.request(`http://127.0.0.1:${port}/`); } catch (e) { log.push(`threw:${e.code}`); }
    const req = https.get(`https://127.0.0.1:${port}/echo`);
    req.on("response", () => log.push("response"));
    req.on("error", () => log.push("error"));
    return new Promise((resolve) => req.on("close", () => { log.push("close"); resolve(log); }));
  },
  async destroyed(port) {
    const req = http.get(`http://127.0.0.1:${port}/hang`);
    setTimeout(() => req.destroy(), 50);
    return follow(req, []);
  },
  async aborted(port) {
    const req = http.get(`http://127.0.0.1:${port}/hang`);
    setTimeout(() => req.abort(), 50);
    return follow(req, []);
  },
  async timeout(port) {
    const req = http.get(`http://127.0.0.1:${port}/hang`);
    req.setTimeout(100, () => req.destroy());
    return follow(req, []);
  },
};
