// The Worker of benches/load/body_stream.sh, the same code in Stockade and workerd: GET
// /produce/N answers N MiB made as the client reads them (64 KiB chunks), POST /echo answers the
// upload's own body as it arrives.
const MIB = 1 << 20;
export default {
  async fetch(req) {
    const [, what, n] = new URL(req.url).pathname.match(/(produce|echo)(?:\/(\d+))?$/) ?? [];
    if (what === "produce") {
      let left = Number(n) * 16;
      const chunk = new Uint8Array(64 << 10).fill(7);
      return new Response(new ReadableStream({
        type: "bytes",
        pull(c) { if (left-- > 0) c.enqueue(chunk.slice()); else c.close(); },
      }));
    }
    if (what === "echo" && req.body !== null) return new Response(req.body);
    return new Response("GET /produce/N or POST /echo", { status: 404 });
  },
};
