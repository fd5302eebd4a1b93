// A Workers app on npm packages built on node:stream (bundled by daemon/tests/npm/build.mjs, run with
// nodejs_compat by daemon/tests/e2e_npm_streams.rs), one route per package:
//   POST /csv     gzipped CSV in; csv-parse (object-mode Transform) → a Transform of records →
//                 csv-stringify → createGzip, joined by stream.pipeline; gzipped CSV out.
//   POST /lines   NDJSON in, cut into `?chunk=` byte pieces (splitting UTF-8 sequences); split2
//                 (string_decoder) parses the lines; a JSON summary out.
//   POST /upload  multipart/form-data into busboy (a Writable handing out a Readable per file);
//                 each file hashed with node:crypto as it streams; a JSON summary out.
//   POST /json    a JSON array into stream-json's parser and streamArray, chained by
//                 stream-chain (a Duplex) into JSON lines out.
//   POST /tar     a JSON list of files ({name, mode, base64}) packed by tar-stream (streamx,
//                 on node:events), piped by stream.pipeline through createGzip; a .tar.gz out.
import { Readable, Transform, pipeline } from "node:stream";
import { createGunzip, createGzip } from "node:zlib";
import { createHash } from "node:crypto";
import { parse } from "csv-parse";
import { stringify } from "csv-stringify";
import split2 from "split2";
import busboy from "busboy";
import chain from "stream-chain";
import { parserStream } from "stream-json";
import { streamArray } from "stream-json/streamers/stream-array.js";
import jsonLines from "stream-chain/jsonl/stringerStream.js";
import tar from "tar-stream";

/** Passes bytes on in pieces of `size` bytes (the last one shorter). */
function rechunk(size) {
  let held = Buffer.alloc(0);
  return new Transform({
    transform(chunk, encoding, callback) {
      held = Buffer.concat([held, chunk]);
      while (held.length >= size) {
        this.push(held.subarray(0, size));
        held = held.subarray(size);
      }
      callback();
    },
    flush(callback) {
      callback(null, held.length ? held : null);
    },
  });
}

function chunkSize(url) {
  return Math.max(1, Number(url.searchParams.get("chunk") ?? 65536));
}

function csv(request, url) {
  const records = new Transform({
    objectMode: true,
    transform(row, encoding, callback) {
      const total = Number(row.qty) * Number(row.cents);
      callback(null, { id: row.id, name: row.name.toUpperCase(), note: row.note, total });
    },
  });
  const out = pipeline(
    Readable.fromWeb(request.body),
    createGunzip(),
    rechunk(chunkSize(url)),
    parse({ columns: true }),
    records,
    stringify({ header: true, columns: ["id", "name", "note", "total"] }),
    createGzip(),
    () => {}, // an error destroys every stream, the response body with it
  );
  return new Response(Readable.toWeb(out), { headers: { "content-type": "text/csv", "content-encoding": "identity" } });
}

async function lines(request, url) {
  const rows = Readable.fromWeb(request.body).pipe(rechunk(chunkSize(url))).pipe(split2(JSON.parse));
  let count = 0, sum = 0, names = "";
  for await (const row of rows) {
    count++;
    sum += row.n;
    names += row.name;
  }
  return Response.json({ count, sum, names });
}

function upload(request) {
  return new Promise((resolve, reject) => {
    const fields = [], files = [];
    const bb = busboy({ headers: Object.fromEntries(request.headers), limits: { fileSize: 4 << 20 } });
    bb.on("field", (name, value, info) => fields.push({ name, value, mimeType: info.mimeType }));
    bb.on("file", (name, file, info) => {
      const hash = createHash("sha256");
      const entry = { name, filename: info.filename, mimeType: info.mimeType, size: 0, chunks: 0 };
      files.push(entry);
      file.on("data", (chunk) => {
        entry.size += chunk.length;
        entry.chunks++;
        hash.update(chunk);
      });
      file.on("end", () => { entry.sha256 = hash.digest("hex"); });
    });
    bb.on("close", () => resolve(Response.json({ fields, files })));
    bb.on("error", reject);
    Readable.fromWeb(request.body).pipe(bb);
  });
}

function json(request) {
  const pipe = chain([
    parserStream(),
    streamArray.asStream(),
    ({ key, value }) => (value.keep ? { key, id: value.id, tags: value.tags.length, label: value.label } : chain.none),
    jsonLines(),
  ]);
  Readable.fromWeb(request.body).pipe(pipe);
  return new Response(Readable.toWeb(pipe));
}

async function tarball(request) {
  const files = await request.json();
  const pack = tar.pack();
  (async () => {
    for (const file of files) {
      const body = Buffer.from(file.base64, "base64");
      await new Promise((resolve, reject) => {
        pack.entry({ name: file.name, mode: file.mode, mtime: new Date(file.mtime * 1000) }, body, (e) => (e ? reject(e) : resolve()));
      });
    }
    pack.finalize();
  })().catch((error) => pack.destroy(error));
  const out = pipeline(pack, createGzip(), () => {});
  return new Response(Readable.toWeb(out), { headers: { "content-type": "application/gzip" } });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    try {
      switch (url.pathname) {
        case "/csv": return csv(request, url);
        case "/lines": return await lines(request, url);
        case "/upload": return await upload(request);
        case "/json": return json(request);
        case "/tar": return await tarball(request);
        default: return new Response("not found", { status: 404 });
      }
    } catch (error) {
      return Response.json({ error: String(error?.stack ?? error) }, { status: 500 });
    }
  },
};
