// `node run-under-node.mjs <port> <scenario>`: one of scenarios.js's scenarios under Node itself,
// its log printed as JSON (daemon/tests/e2e_node_http.rs compares it with Stockade's).
import { scenarios } from "./scenarios.js";

const [port, name] = process.argv.slice(2);
const log = await scenarios[name](Number(port));
process.stdout.write(JSON.stringify(log));
process.exit(0);
