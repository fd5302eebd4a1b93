// postgres.js (npm `postgres`) built for Node, so its connections are `net.connect` sockets of
// the runtime's node:net (over cloudflare:sockets and the egress gateway), against a real
// PostgreSQL. The daemon's test gives the connection string in `env.PG_URL`.
import postgres from "postgres";

export default {
  async fetch(request, env) {
    const { above } = await request.json();
    const sql = postgres(env.PG_URL, { max: 1, ssl: false, fetch_types: false });
    try {
      await sql`CREATE TABLE people (id serial PRIMARY KEY, name text, age int)`;
      const inserted = await sql`INSERT INTO people ${sql([{ name: "Ada", age: 36 }, { name: "Grace", age: 45 }, { name: "Édith", age: 29 }])} RETURNING id`;
      const rows = await sql`SELECT name, age FROM people WHERE age > ${above} ORDER BY id`;
      const [{ schema }] = await sql`SELECT current_schema() AS schema`;
      let error = null;
      try {
        await sql`SELECT * FROM nobody_here`;
      } catch (e) {
        error = { code: e.code, message: e.message };
      }
      return Response.json({ inserted: inserted.map((r) => r.id), rows: [...rows], schema, error });
    } finally {
      await sql.end();
    }
  },
};
