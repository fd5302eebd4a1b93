// The callee of benches/load/rpc_stream.sh, the same code in Stockade and workerd: a stream of
// n MiB made as it is read, and a count of a stream's bytes.
import { WorkerEntrypoint } from "cloudflare:workers";
const MIB = 1 << 20;
export default class extends WorkerEntrypoint {
  produce(n) {
    let left = n;
    const chunk = new Uint8Array(64 << 10).fill(7);
    let sent = 0;
    return new ReadableStream({
      type: "bytes",
      pull(c) {
        if (left === 0) { c.close(); return; }
        c.enqueue(chunk.slice());
        sent += chunk.length;
        if (sent === MIB) { sent = 0; left--; }
      },
    });
  }
  async count(stream) {
    let bytes = 0;
    for await (const piece of stream) bytes += piece.length;
    return bytes;
  }
}
