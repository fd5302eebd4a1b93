// An upstream MCP server built with the official TypeScript SDK, for e2e_capabilities.rs:
// streamable HTTP on 127.0.0.1:<argv[2]>, stateless (a server and transport per request).
// Every request must carry `X-Weather-Key: <$WEATHER_KEY>` (the daemon's egress rule injects
// it); it prints "ready" once listening, and "seen <key>" lines nobody else can see.
import http from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

const port = Number(process.argv[2]);
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

http
  .createServer(async (req, res) => {
    if (req.headers["x-weather-key"] !== key) {
      res.writeHead(401, { "content-type": "text/plain" }).end("no key");
      return;
    }
    if (req.method !== "POST") {
      res.writeHead(405).end();
      return;
    }
    let body = "";
    for await (const chunk of req) body += chunk;
    const s = server();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => {
      transport.close();
      s.close();
    });
    await s.connect(transport);
    await transport.handleRequest(req, res, JSON.parse(body));
  })
  .listen(port, "127.0.0.1", () => console.log("ready"));
