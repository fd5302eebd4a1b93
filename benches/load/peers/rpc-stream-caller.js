// The caller of benches/load/rpc_stream.sh: GET /produce/N reads N MiB the callee streams back
// over RPC; GET /count/N streams N MiB to the callee, which counts them. The answer is the byte
// count either way.
export default {
  async fetch(req, env) {
    const [, what, n] = new URL(req.url).pathname.match(/(produce|count)\/(\d+)$/) ?? [];
    const mib = Number(n);
    if (what === "produce") {
      let bytes = 0;
      for await (const piece of await env.S.produce(mib)) bytes += piece.length;
      return new Response(String(bytes));
    }
    if (what === "count") {
      const chunk = new Uint8Array(64 << 10).fill(3);
      let left = mib * 16;
      const stream = new ReadableStream({
        type: "bytes",
        pull(c) { if (left-- > 0) c.enqueue(chunk.slice()); else c.close(); },
      });
      return new Response(String(await env.S.count(stream)));
    }
    return new Response("GET /produce/N or /count/N", { status: 404 });
  },
};
