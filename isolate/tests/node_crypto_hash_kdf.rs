//! node:crypto's hashes, HMACs and key derivations in real isolates, against real Node: the same
//! code runs in both and must give the same answers (node_crypto_support), plus known answers
//! Node gave, pasted as constants with the command that produced them.
mod common;
mod node_crypto_support;
use node_crypto_support::*;

#[test]
fn hashes_and_hmacs_match_node_incrementally_and_copied() {
    same(
        "const out = [];
         const data = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 255));
         for (const alg of ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512', 'sha512-256', 'RSA-SHA256', 'SHA-512']) {
           const h = crypto.createHash(alg).update('ab');
           const c = h.copy();
           h.update(data.subarray(0, 100)).update(data.subarray(100));
           out.push(h.digest('hex'), c.update('c').digest('base64'), crypto.hash(alg.toLowerCase(), 'abc'));
           out.push(crypto.createHmac(alg, 'k'.repeat(200)).update('x').update(data).digest('hex'));
           out.push(crypto.createHmac(alg, Buffer.from('key')).update('abc', 'latin1').digest('base64url'));
         }
         const t = (f) => { try { return f(); } catch (e) { return [e.name, e.code ?? null, e.message]; } };
         const done = crypto.createHash('sha256'); done.digest();
         out.push(t(() => crypto.createHash('nope')), t(() => crypto.createHmac('nope', 'k')),
                  t(() => done.update('x')), t(() => done.digest()), t(() => done.copy()));
         const m = crypto.createHmac('sha1', 'k'); m.digest();
         out.push(m.digest('hex'));
         out.push(crypto.createHmac('sha256', crypto.createSecretKey(Buffer.from('key'))).update('a').digest('hex'));
         return out;",
    );
}

#[test]
fn hash_known_answers_from_node() {
    // env -u NODE_EXTRA_CA_CERTS node -p "const c=require('crypto');[c.createHash('sha224').update('abc').digest('hex'),c.createHmac('sha512-256','key').update('data').digest('hex')]"
    let v = stockade(
        "return [crypto.createHash('sha224').update('abc').digest('hex'),
                 crypto.createHmac('sha512-256', 'key').update('data').digest('hex')];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            HMAC_SHA512_256_KEY_DATA
        ])
    );
}
const HMAC_SHA512_256_KEY_DATA: &str =
    "e1d10dee05c387bc0407b77dead2b0626e46d9993ab3a6157cabc805c84f0e09";

#[test]
fn kdfs_match_node() {
    same(
        "const out = [];
         for (const d of ['sha1', 'sha256', 'sha384', 'sha512', 'md5', 'sha224'])
           out.push(crypto.pbkdf2Sync('password', 'salt', 1000, 70, d).toString('hex'));
         out.push(crypto.pbkdf2Sync(Buffer.from('pw'), new Uint8Array([1, 2, 3]), 1, 0, 'sha256').length);
         out.push(await new Promise((res, rej) => crypto.pbkdf2('p', 's', 2, 16, 'sha512', (e, k) => e ? rej(e) : res(k.toString('hex')))));
         out.push(Buffer.from(crypto.hkdfSync('sha256', 'ikm', 'salt', 'info', 42)).toString('hex'));
         out.push(Buffer.from(crypto.hkdfSync('sha512', crypto.createSecretKey(Buffer.from('k')), '', '', 64)).toString('hex'));
         out.push(await new Promise((res) => crypto.hkdf('sha1', 'a', 'b', 'c', 20, (e, k) => res([e, k instanceof ArrayBuffer, Buffer.from(k).toString('hex')]))));
         out.push(crypto.scryptSync('password', 'salt', 64).toString('hex'));
         out.push(crypto.scryptSync('pw', 'NaCl', 32, { N: 1024, r: 8, p: 4 }).toString('base64'));
         out.push(crypto.scryptSync('pw', 's', 16, { cost: 32768, maxmem: 64 * 1024 * 1024 }).toString('hex'));
         out.push(await new Promise((res) => crypto.scrypt('a', 'b', 8, { N: 16 }, (e, k) => res([e, k.toString('hex')]))));
         out.push(await new Promise((res) => {
           const order = [];
           crypto.scrypt('a', 'b', 8, { N: 16 }, () => { order.push('callback'); res(order); });
           order.push('sync');
         }));
         const t = (f) => { try { return f(); } catch (e) { return [e.name, e.code ?? null, e.message]; } };
         out.push(t(() => crypto.pbkdf2Sync('p', 's', 1, 32, 'nope')), t(() => crypto.pbkdf2Sync('p', 's', 0, 32, 'sha256')),
                  t(() => crypto.pbkdf2Sync(1, 's', 1, 32, 'sha256')),
                  t(() => crypto.scryptSync('p', 's', 64, { N: 3 })), t(() => crypto.scryptSync('p', 's', 64, { N: 32768 })),
                  t(() => crypto.hkdfSync('sha256', 'k', 's', 'i', 255 * 32 + 1)), t(() => crypto.hkdfSync('nope', 'k', 's', 'i', 1)));
         return out;",
    );
}

/// Derivations whose cost is the tenant's choice end as the request's CPU limit (the native
/// loops check for termination), not as a hung isolate.
#[test]
fn huge_derivations_end_as_the_cpu_limit() {
    use std::time::Duration;
    use stockade_isolate::{LimitKind, Limits, RunError};
    let tight = || Limits {
        cpu: Duration::from_millis(200),
        wall: Duration::from_secs(60),
        ..Limits::default()
    };
    for body in [
        "return crypto.pbkdf2Sync('p', 's', 2147483647, 64, 'sha512').length;",
        "return crypto.scryptSync('p', 's', 16, { N: 16384, r: 8, p: 10000, maxmem: 2 ** 30 }).length;",
        "return crypto.scryptSync('p', 's', 16, { N: 2 ** 17, r: 8, maxmem: 2 ** 30 }).length;",
    ] {
        match common::err(stockade_with(tight(), body)) {
            RunError::Limit(LimitKind::Cpu) => {}
            other => panic!("{body}: expected the CPU limit, got {other:?}"),
        }
    }
}

#[test]
fn hashes_hmacs_and_ciphers_are_streams_as_in_node() {
    same(
        "const stream = await import('node:stream');
         const { Readable, Writable } = stream;
         const sink = (into) => new Writable({ write(c, e, cb) { into.push(c); cb(); } });
         const out = [];
         // A Readable piped into a hash, read as hex.
         const h = crypto.createHash('sha256');
         h.setEncoding('hex');
         await new Promise((res, rej) => Readable.from(['hello ', 'world']).pipe(h).on('finish', res).on('error', rej));
         out.push(h.read());
         // write, end, read; the digest once more after the stream's end (Node answers it once).
         const m = crypto.createHmac('sha1', 'k');
         m.write('abc'); m.end();
         out.push(m.read().toString('base64'), m.digest('hex'));
         const y = crypto.createHash('sha1');
         const got = [];
         y.on('data', (d) => got.push(d.toString('hex')));
         y.end('z');
         await new Promise((r) => y.on('end', r));
         const t = (f) => { try { return f(); } catch (e) { return e.code; } };
         out.push(got, y.digest('hex'), t(() => y.digest('hex')));
         // Through a cipher and a decipher in a pipeline; a bad decrypt errors it.
         const key = Buffer.alloc(32, 7), iv = Buffer.alloc(16, 9);
         const chunks = [];
         await stream.promises.pipeline(Readable.from([Buffer.from('stream me '), Buffer.from('through aes')]),
           crypto.createCipheriv('aes-256-cbc', key, iv), crypto.createDecipheriv('aes-256-cbc', key, iv), sink(chunks));
         out.push(Buffer.concat(chunks).toString());
         const enc = [];
         await stream.promises.pipeline(Readable.from([Buffer.from('abc')]), crypto.createCipheriv('aes-256-cbc', key, iv), sink(enc));
         out.push(Buffer.concat(enc).toString('hex'));
         try {
           await stream.promises.pipeline(Readable.from([Buffer.alloc(16, 1)]), crypto.createDecipheriv('aes-256-cbc', key, iv), sink([]));
           out.push('no error');
         } catch (e) { out.push(e.code); }
         const x = crypto.createHash('md5');
         out.push(x instanceof stream.Transform, x instanceof stream.Readable, x.readable, x.writable);
         let s = '';
         const w = crypto.createHash('sha512-256'); w.end('q');
         for await (const c of w) s += c.toString('hex');
         out.push(s);
         // Strings reach the hash in their encoding; digest() then end() pushes the digest again.
         const e = crypto.createHash('sha1');
         out.push(Object.keys(e), e._writableState.decodeStrings, e._writableState.defaultEncoding);
         e.write('ff00', 'hex'); e.write('é', 'latin1'); e.write('é');
         const first = e.digest('hex');
         const again = await new Promise((r) => { const got = []; e.on('data', (d) => got.push(d.toString('hex'))); e.on('finish', () => r(got)); e.end(); });
         out.push(first, again);
         const c2 = crypto.createCipheriv('aes-128-ecb', Buffer.alloc(16, 1), null);
         c2.write('6869', 'hex'); c2.end('!');
         out.push(c2.read().toString('hex'));
         return out;",
    );
}

#[test]
fn a_hash_used_without_streams_does_not_build_node_stream() {
    // LazyTransform: until node:stream is built, what lies above the LazyTransform prototype is a
    // proxy over an empty object; the first stream use builds node:stream and puts
    // Transform.prototype there.
    let v = stockade(
        "const above = () => Object.getPrototypeOf(Object.getPrototypeOf(crypto.Hash.prototype));
         const h = crypto.createHash('sha256').update('a');
         const quiet = [Object.getOwnPropertyNames(above()).length, h.digest('hex').length,
           typeof h.then, String(h), JSON.stringify(h), 'toString' in h, h.hasOwnProperty('x'),
           Object.getOwnPropertyNames(above()).length];
         const hm = crypto.createHmac('sha1', 'k');
         const piped = typeof hm.pipe;
         const stream = await import('node:stream');
         return [quiet, piped, above() === stream.Transform.prototype, hm instanceof stream.Transform];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            [0, 64, "undefined", "[object Object]", "{}", true, false, 0],
            "function",
            true,
            true
        ])
    );
}

#[test]
fn a_cipher_is_a_transform_once_node_stream_is_imported() {
    // Importing node:stream first gives the prototype its Transform before any stream use.
    let v = stockade(
        "const stream = await import('node:stream');
         const c = crypto.createCipheriv('aes-128-ecb', Buffer.alloc(16), null);
         return [c instanceof stream.Transform, c instanceof stream.Duplex,
                 Object.getPrototypeOf(Object.getPrototypeOf(Object.getPrototypeOf(Object.getPrototypeOf(c)))) === stream.Transform.prototype];",
    );
    assert_eq!(v, serde_json::json!([true, true, true]));
}

#[test]
fn generated_hash_and_hmac_calls_answer_as_in_node() {
    // 400 seeded calls, the same in both: an algorithm (names in any case, SHA-3, SHAKE with an
    // outputLength, RIPEMD-160 and BLAKE2 among them), updates of strings in every encoding Node
    // takes for them and of views, a key of either kind, a copy, a digest in every output encoding
    // or none; errors by code.
    same_generated(
        0xc0de,
        400,
        "const algorithms = ['sha256', 'SHA256', 'sha1', 'md5', 'sha512', 'sha384', 'sha224', 'sha512-256', 'RSA-SHA256', 'sha3-224',
           'sha3-256', 'SHA3-384', 'sha3-512', 'RSA-SHA3-256', 'shake128', 'shake256', 'ripemd160', 'rmd160', 'blake2b512', 'BLAKE2s256', 'nope'];
         const encodings = [undefined, 'utf8', 'hex', 'base64', 'base64url', 'latin1', 'binary', 'ascii', 'ucs2', 'utf16le'];
         const texts = ['', 'a', 'é\\u0100', '\\ud800', 'zz', 'abc=', '0f', '\\u{1F600}'];",
        "             const hmac = rand(3) === 0;
             const key = pick(['k', Buffer.from([1, 2, 3]), new Uint8Array(70), '']);
             // (Not an HMAC of SHAKE: Node's OpenSSL fails it with an error of no meaning, this one
             // with ERR_CRYPTO_INVALID_DIGEST.)
             const algorithm = hmac ? pick(algorithms.filter((a) => !a.startsWith('shake'))) : pick(algorithms);
             const options = rand(4) === 0 ? { outputLength: pick([0, 5, 16, 20, 32, 64, 100]) } : undefined;
             let h = hmac ? crypto.createHmac(algorithm, key) : crypto.createHash(algorithm, options);
             if (!hmac && rand(4) === 0) h = h.copy(rand(2) ? { outputLength: pick([3, 32]) } : undefined);
             for (let k = rand(4); k > 0; k--) {
               const what = rand(3);
               if (what === 0) h.update(pick(texts), pick(encodings));
               else if (what === 1) h.update(new Uint8Array([rand(256), rand(256)]));
               else h.update(Buffer.from(pick(texts)));
             }
             const d = h.digest(pick(encodings));
             // Code units: a digest as latin1 or utf16 text may be no JSON string (a lone surrogate).
             out.push(typeof d === 'string' ? Array.from({ length: d.length }, (_, j) => d.charCodeAt(j)) : [...d]);
             out.push((() => { try { h.digest(); return 'again'; } catch (e) { return e.code; } })());",
        // (Not SHAKE: Node fails its PBKDF2 and HKDF with 'Deriving bits failed', this one with
        // ERR_CRYPTO_INVALID_DIGEST.)
        "for (const d of ['sha3-256', 'SHA3-512', 'ripemd160', 'blake2b512', 'blake2s256']) {
           try { out.push([...crypto.pbkdf2Sync('p', 's', 3, 40, d)], [...new Uint8Array(crypto.hkdfSync(d, 'k', 's', 'i', 40))]); } catch (e) { out.push(e.code ?? e.name); }
         }
         out.push(crypto.hash('shake128', 'x'), crypto.hash('sha3-224', 'x', 'base64'));",
    );
}

#[test]
fn generated_kdf_arguments_answer_as_in_node() {
    // 300 seeded PBKDF2, HKDF and scrypt calls with arguments of every kind (strings, views,
    // numbers out of range, fractions, wrong types, unknown digests, scrypt's cost options): the
    // same bytes, or the same error code.
    same_generated(
        0x4df2,
        300,
        "const secrets = () => pick(['', 'pw', Buffer.from([1, 2, 3]), new Uint8Array(40), new ArrayBuffer(3), 5, null, undefined, {}]);
         const numbers = () => pick([1, 2, 16, 0, -1, 1.5, 2 ** 31, NaN, '8', undefined, 32, 64]);
         const digests = () => pick(['sha256', 'SHA1', 'sha512', 'md5', 'sha3-256', 'nope', '', 5, undefined]);",
        "             const kind = rand(3);
             let r;
             if (kind === 0) r = crypto.pbkdf2Sync(secrets(), secrets(), numbers(), numbers(), digests());
             else if (kind === 1) r = crypto.hkdfSync(digests(), secrets(), secrets(), secrets(), numbers());
             else r = crypto.scryptSync(secrets(), secrets(), numbers(), rand(2) ? undefined : { N: pick([2, 4, 3, 1, 16]), r: pick([1, 2, 0]), p: pick([1, 2]), maxmem: pick([undefined, 1, 1 << 20]) });
             out.push([...new Uint8Array(r.buffer ?? r, r.byteOffset ?? 0, r.byteLength)]);",
        "",
    );
}
