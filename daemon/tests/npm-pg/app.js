// node-postgres (npm `pg`, which picks `pg-cloudflare`'s socket when navigator.userAgent is
// "Cloudflare-Workers") against a real PostgreSQL through `cloudflare:sockets` and the egress
// gateway. The daemon's test gives the connection string in `env.PG_URL` and each request's JSON
// body says what to do.
import pg from "pg";

export default {
  async fetch(request, env) {
    const { steps } = await request.json();
    const client = new pg.Client({ connectionString: env.PG_URL });
    await client.connect();
    const results = [];
    try {
      for (const [text, values] of steps) {
        const r = await client.query(text, values);
        results.push({ command: r.command, rowCount: r.rowCount, rows: r.rows, fields: r.fields.map((f) => f.name) });
      }
    } catch (e) {
      results.push({ error: `${e.constructor.name}: ${e.message}`, code: e.code ?? null });
    } finally {
      await client.end();
    }
    return Response.json(results);
  },
};
