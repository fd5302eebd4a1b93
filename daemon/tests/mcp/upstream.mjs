// An upstream MCP server built with the official TypeScript SDK, for e2e_capabilities.rs:
// streamable HTTP on 127.0.0.1 (argv[2] the port, 0 for any), either `stateless` (argv[3]; a server and transport
// per request) or `stateful` (sessions: `Mcp-Session-Id`, ended by DELETE). Every request must
// carry `X-Weather-Key: <$WEATHER_KEY>` (the daemon's egress rule injects it). It prints "ready <port>"
// once listening; `GET /stats` answers {opened, open} (sessions made, sessions still open);
// `POST /forget` ends every session on the server's side, as a server restart or expiry would.
import http from "node:http";
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

const port = Number(process.argv[2]);
const stateful = process.argv[3] === "stateful";
const sessions = new Map();
let opened = 0;
const key = process.env.WEATHER_KEY;

function server() {
  const s = new McpServer({ name: "weather", version: "1.0.0" });
  s.registerTool(
    "forecast",
    {
      description: "Tomorrow's forecast for a city.",
      inputSchema: { city: z.string().describe("The city"), days: z.number().int().optional() },
      outputSchema: { city: z.string(), tempC: z.number() },
    },
    async ({ city, days }) => {
      const out = { city, tempC: city.length * 3 + (days ?? 0) };
      return { content: [{ type: "text", text: JSON.stringify(out) }], structuredContent: out };
    },
  );
  s.registerTool(
    "explode",
    { description: "Always fails.", inputSchema: { why: z.string().optional() } },
    async ({ why }) => ({ isError: true, content: [{ type: "text", text: `the weather service is down: ${why ?? "?"}` }] }),
  );
  return s;
}

async function stateless(req, res, body) {
  const s = server();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => {
    transport.close();
    s.close();
  });
  await s.connect(transport);
  await transport.handleRequest(req, res, body);
}

async function withSessions(req, res, body) {
  const id = req.headers["mcp-session-id"];
  let transport = id === undefined ? undefined : sessions.get(id);
  if (transport === undefined) {
    if (id !== undefined || body?.method !== "initialize") {
      res.writeHead(404, { "content-type": "text/plain" }).end("no such session");
      return;
    }
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (sid) => {
        opened++;
        sessions.set(sid, transport);
      },
    });
    transport.onclose = () => sessions.delete(transport.sessionId);
    await server().connect(transport);
  }
  await transport.handleRequest(req, res, body);
}

http
  .createServer(async (req, res) => {
    if (req.headers["x-weather-key"] !== key) {
      res.writeHead(401, { "content-type": "text/plain" }).end("no key");
      return;
    }
    if (req.method === "GET" && req.url === "/stats") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ opened, open: sessions.size }));
      return;
    }
    if (req.method === "POST" && req.url === "/forget") {
      const open = [...sessions.values()];
      sessions.clear();
      for (const transport of open) await transport.close();
      res.writeHead(204).end();
      return;
    }
    let text = "";
    for await (const chunk of req) text += chunk;
    const body = text === "" ? undefined : JSON.parse(text);
    if (stateful) return withSessions(req, res, body);
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    return stateless(req, res, body);
  })
  .listen(port, "127.0.0.1", function () {
    console.log(`ready ${this.address().port}`);
  });
