//! node:crypto's createCipheriv/createDecipheriv in real isolates against real Node: the same
//! code runs in both and must give the same bytes, the same errors, and the same pieces out of
//! each update() (output as it goes, not held until final()); a ciphertext made by one decrypts in
//! the other.
mod common;
mod node_crypto_support;
use node_crypto_support::*;

const CASES: &str = "
  const key = (n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + 1) & 255));
  const iv = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const msg = Buffer.from(Array.from({ length: 100 }, (_, i) => (i * 31) & 255));
  const out = [];
  for (const mode of ['cbc', 'ctr', 'ecb', 'gcm']) for (const bits of [128, 192, 256]) {
    const name = `aes-${bits}-${mode}`;
    const v = mode === 'ecb' ? null : mode === 'gcm' ? iv.subarray(0, 12) : iv;
    const c = crypto.createCipheriv(name, key(bits / 8), v);
    if (mode === 'gcm') c.setAAD(Buffer.from('header'));
    const pieces = [c.update(msg.subarray(0, 7)), c.update(msg.subarray(7, 40)), c.update(msg.subarray(40)), c.final()];
    const tag = mode === 'gcm' ? c.getAuthTag().toString('hex') : null;
    out.push(name, pieces.map((p) => p.toString('hex')), tag);
    const d = crypto.createDecipheriv(name, key(bits / 8), v);
    if (mode === 'gcm') { d.setAAD(Buffer.from('header')); d.setAuthTag(Buffer.from(tag, 'hex')); }
    const all = Buffer.concat(pieces);
    const back = [d.update(all.subarray(0, 16)), d.update(all.subarray(16)), d.final()];
    out.push(back.map((p) => p.length), Buffer.concat(back).equals(msg));
  }
  const c = crypto.createCipheriv('aes-256-cbc', key(32), iv);
  out.push(c.update('hello, world', 'utf8', 'base64') + c.final('base64'));
  const np = crypto.createCipheriv('aes-128-cbc', key(16), iv).setAutoPadding(false);
  out.push(np.update(msg.subarray(0, 32)).toString('hex') + np.final().toString('hex'));
  const g = crypto.createCipheriv('aes-128-gcm', key(16), Buffer.alloc(16, 7), { authTagLength: 8 });
  out.push(g.update('x').toString('hex'), g.final().length, g.getAuthTag().toString('hex'));
  const t = (f) => { try { return f(); } catch (e) { return [e.name, e.code ?? null, e.message]; } };
  out.push(
    t(() => crypto.createCipheriv('aes-128-cbc', key(15), iv)),
    t(() => crypto.createCipheriv('aes-128-cbc', key(16), iv.subarray(1))),
    t(() => crypto.createCipheriv('aes-128-xyz', key(16), iv)),
    t(() => { const d = crypto.createDecipheriv('aes-128-cbc', key(16), iv); d.update(Buffer.alloc(16)); return d.final(); }),
    t(() => { const d = crypto.createCipheriv('aes-128-cbc', key(16), iv); d.setAutoPadding(false); d.update(Buffer.alloc(15)); return d.final(); }),
    t(() => { const d = crypto.createDecipheriv('aes-128-gcm', key(16), iv.subarray(0, 12)); d.setAuthTag(Buffer.alloc(16)); d.update(Buffer.alloc(5)); return d.final(); }),
    t(() => crypto.createCipheriv('aes-128-gcm', key(16), iv.subarray(0, 12)).getAuthTag()),
    t(() => crypto.createDecipheriv('aes-128-gcm', key(16), iv.subarray(0, 12)).setAuthTag(Buffer.alloc(5))),
  );
  return out;";

#[test]
fn ciphers_match_node_piece_by_piece() {
    same(CASES);
}

#[test]
fn a_ciphertext_from_node_decrypts_here_and_back() {
    let make = "const k = Buffer.alloc(32, 9), iv = Buffer.alloc(12, 3);
        const c = crypto.createCipheriv('aes-256-gcm', k, iv); c.setAAD(Buffer.from('a'));
        const ct = Buffer.concat([c.update('secret message'), c.final()]);
        return [ct.toString('base64'), c.getAuthTag().toString('base64')];";
    let open = |v: &serde_json::Value| {
        format!(
            "const k = Buffer.alloc(32, 9), iv = Buffer.alloc(12, 3);
             const d = crypto.createDecipheriv('aes-256-gcm', k, iv); d.setAAD(Buffer.from('a'));
             d.setAuthTag(Buffer.from({tag}, 'base64'));
             return Buffer.concat([d.update(Buffer.from({ct}, 'base64')), d.final()]).toString();",
            ct = v[0],
            tag = v[1]
        )
    };
    let from_node = node(make);
    assert_eq!(stockade(&open(&from_node)), "secret message");
    let from_us = stockade(make);
    assert_eq!(node(&open(&from_us)), "secret message");
}

#[test]
fn chacha20_poly1305_matches_node_piece_by_piece() {
    same(
        "const key = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7 & 255));
         const iv = Buffer.from('000102030405060708090a0b', 'hex');
         const msg = Buffer.from(Array.from({ length: 150 }, (_, i) => (i * 31) & 255));
         const out = [];
         for (const tagLen of [undefined, 16, 8, 1]) {
           const o = tagLen === undefined ? undefined : { authTagLength: tagLen };
           const c = crypto.createCipheriv('chacha20-poly1305', key, iv, o);
           c.setAAD(Buffer.from('header, 17 bytes!'));
           const pieces = [c.update(msg.subarray(0, 1)), c.update(msg.subarray(1, 64)), c.update(msg.subarray(64)), c.final()];
           const tag = c.getAuthTag();
           out.push(pieces.map((p) => p.toString('hex')), tag.toString('hex'));
           const d = crypto.createDecipheriv('chacha20-poly1305', key, iv, o);
           d.setAAD(Buffer.from('header, 17 bytes!')); d.setAuthTag(tag);
           const all = Buffer.concat(pieces);
           out.push(Buffer.concat([d.update(all.subarray(0, 33)), d.update(all.subarray(33)), d.final()]).equals(msg));
         }
         const t = (f) => { try { return f(); } catch (e) { return [e.name, e.code ?? null, e.message]; } };
         out.push(
           t(() => crypto.createCipheriv('chacha20-poly1305', key, iv.subarray(0, 8))),
           t(() => crypto.createCipheriv('chacha20-poly1305', key.subarray(1), iv)),
           t(() => crypto.createCipheriv('chacha20-poly1305', key, iv, { authTagLength: 17 })),
           t(() => crypto.createDecipheriv('chacha20-poly1305', key, iv).setAuthTag(Buffer.alloc(8))),
           t(() => { const d = crypto.createDecipheriv('chacha20-poly1305', key, iv); d.update(Buffer.from('abc')); return d.final(); }),
           t(() => { const d = crypto.createDecipheriv('chacha20-poly1305', key, iv); d.setAuthTag(Buffer.alloc(16)); d.update(Buffer.from('abc')); return d.final(); }),
           crypto.getCiphers().includes('chacha20-poly1305'));
         return out;",
    );
}

#[test]
fn get_cipher_info_matches_node() {
    same(
        "const out = [];
         for (const n of ['aes-128-cbc', 'aes-128-ctr', 'aes-128-ecb', 'aes-128-gcm', 'aes-192-cbc', 'aes-192-ctr', 'aes-192-ecb',
           'aes-192-gcm', 'aes-256-cbc', 'aes-256-ctr', 'aes-256-ecb', 'aes-256-gcm', 'aes128', 'aes192', 'aes256',
           'chacha20-poly1305', 'id-aes128-gcm', 'id-aes192-gcm', 'id-aes256-gcm']) out.push(crypto.getCipherInfo(n));
         out.push(crypto.getCipherInfo('AES-128-CBC'), crypto.getCipherInfo(419), crypto.getCipherInfo(1018), crypto.getCipherInfo(1) ?? null,
           crypto.getCipherInfo('nope') ?? null);
         for (const ivLength of [0, 1, 12, 16, 64, 256]) out.push(crypto.getCipherInfo('aes-128-gcm', { ivLength }) ?? null,
           crypto.getCipherInfo('aes-128-cbc', { ivLength }) ?? null, crypto.getCipherInfo('chacha20-poly1305', { ivLength }) ?? null);
         out.push(crypto.getCipherInfo('aes-128-cbc', { keyLength: 16 }), crypto.getCipherInfo('aes-128-cbc', { keyLength: 17 }) ?? null);
         const t = (f) => { try { return f(); } catch (e) { return [e.name, e.code ?? null]; } };
         out.push(t(() => crypto.getCipherInfo({})), t(() => crypto.getCipherInfo('aes-128-cbc', { ivLength: 'x' })));
         return out;",
    );
}

#[test]
fn generated_cipher_calls_answer_as_in_node() {
    // 300 seeded calls, the same in both: a cipher name (any case; some unknown), keys and IVs of
    // right and wrong lengths, auth tag lengths, AAD, padding off, updates in several encodings,
    // then final and the tag; answers as bytes, errors by code.
    same_generated(
        0xc1f3,
        300,
        "const names = ['aes-128-cbc', 'AES-256-CBC', 'aes-192-ecb', 'aes-128-ctr', 'aes-256-gcm', 'aes-128-gcm', 'chacha20-poly1305', 'aes-256-ecb', 'nope'];
         const bytes = (n) => Buffer.from(Array.from({ length: n }, () => rand(256)));",
        "             const name = pick(names);
             const key = bytes(pick([16, 24, 32, 15, 0]));
             const iv = rand(5) === 0 ? null : bytes(pick([16, 12, 8, 0, 17]));
             const options = rand(3) === 0 ? { authTagLength: pick([4, 8, 12, 16, 17, 3]) } : undefined;
             const c = crypto.createCipheriv(name, key, iv, options);
             if (rand(4) === 0) c.setAutoPadding(false);
             if (rand(4) === 0) c.setAAD(bytes(rand(20)));
             const parts = [];
             for (let k = rand(3); k >= 0; k--) {
               const enc = pick([undefined, 'hex', 'base64', 'latin1']);
               const text = pick(['', 'a', 'abcdefghijklmnop', '0f0f', 'é']);
               const o = c.update(text, enc === 'hex' && text.length % 2 ? undefined : enc, pick([undefined, 'hex', 'base64']));
               parts.push(typeof o === 'string' ? o : [...o]);
             }
             const f = c.final(pick([undefined, 'hex']));
             parts.push(typeof f === 'string' ? f : [...f]);
             if (/gcm|poly/i.test(name)) parts.push([...c.getAuthTag()]);
             out.push(parts);",
        "",
    );
}

#[test]
fn generated_small_crypto_calls_answer_as_in_node() {
    // 400 seeded calls of node:crypto's small functions with arguments of every kind: randomBytes,
    // randomInt and randomFillSync (the shape of the answer, not its bytes), timingSafeEqual,
    // getCipherInfo, createSecretKey(...).export(); the same answer or the same error code.
    same_generated(
        0x5a11,
        400,
        "const num = () => pick([0, 1, 5, -1, 1.5, 2 ** 31, 2 ** 48, 2 ** 53, NaN, Infinity, '3', null, undefined, 3n, 16, 32]);
         const view = () => pick([Buffer.alloc(8), new Uint8Array(4), new Uint16Array(3), new DataView(new ArrayBuffer(6)), new ArrayBuffer(5), 'str', 5, null]);",
        "             const kind = rand(6);
             if (kind === 0) { const b = crypto.randomBytes(num()); out.push(['bytes', b.length]); }
             else if (kind === 1) { const a = num(), b = num(); const v = rand(2) ? crypto.randomInt(a, b) : crypto.randomInt(a); out.push(['int', typeof v]); }
             else if (kind === 2) { const v = view(); const r = crypto.randomFillSync(v, ...[num(), num()].slice(0, rand(3))); out.push(['fill', r === v]); }
             else if (kind === 3) out.push(['tse', crypto.timingSafeEqual(view(), view())]);
             else if (kind === 4) { const info = crypto.getCipherInfo(pick(['aes-128-cbc', 'AES-256-GCM', 'chacha20-poly1305', 'aes-128-ecb', 'nope', 419, 99999, 1.5]), rand(2) ? { keyLength: num(), ivLength: num() } : undefined); out.push(['info', info ?? null]); }
             else { const k = crypto.createSecretKey(view(), pick([undefined, 'hex', 'utf8'])); out.push(['key', k.symmetricKeySize, [...k.export()]]); }",
        "",
    );
}
