// Drives Stockade's /mcp endpoint with the official MCP client SDK, for e2e_capabilities.rs:
// node client.mjs <url> <token> <code>; prints one JSON line: the server's info, its tools,
// the result of `execute` with <code>, and of `types`.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, code] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "stockade-e2e", version: "1.0.0" });
await client.connect(transport);
const tools = await client.listTools();
const result = await client.callTool({ name: "execute", arguments: { code, arg: { city: "Lisbon" } } });
const types = await client.callTool({ name: "types", arguments: {} });
console.log(JSON.stringify({ server: client.getServerVersion(), tools: tools.tools, result, types }));
await client.close();
