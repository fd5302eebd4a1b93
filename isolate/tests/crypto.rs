//! crypto.subtle inside real V8 isolates: the common Workers uses end to end (JWT, webhook HMAC,
//! ECDSA and Ed25519 interop with keys and signatures made by OpenSSL, AES-GCM), and the caps
//! that keep a native op from outrunning the request's CPU limit.
mod common;
use std::time::{Duration, Instant};

use common::*;
use stockade_isolate::{LimitKind, Limits, RunError};

fn eval(body: &str) -> serde_json::Value {
    eval_with(limits(), body)
}

/// [`eval`] under `limits`.
fn eval_with(limits: Limits, body: &str) -> serde_json::Value {
    ok(run_with(limits, &[("main.js", format!(
        "const b64u = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');\n\
         const unb64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));\n\
         const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');\n\
         const enc = (s) => new TextEncoder().encode(s);\n\
         export default async () => {{ {body} }};"
    ).as_str())], "null"))
}

#[test]
fn hs256_jwt_of_rfc_7515_signs_and_verifies() {
    // RFC 7515 appendix A.1: the HS256 JWS, its key (a JWK) and its signature.
    let v = eval(
        "const jwk = { kty: 'oct', k: 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow' };
         const key = await crypto.subtle.importKey('jwk', jwk, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
         const input = 'eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ';
         const sig = await crypto.subtle.sign('HMAC', key, enc(input));
         const good = await crypto.subtle.verify('HMAC', key, sig, enc(input));
         const bad = await crypto.subtle.verify('HMAC', key, sig, enc(input + 'x'));
         // A fresh token of our own, signed and checked the way a Worker does.
         const k2 = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, true, ['sign', 'verify']);
         const body = b64u(enc(JSON.stringify({ alg: 'HS256' }))) + '.' + b64u(enc(JSON.stringify({ sub: 'u1' })));
         const token = body + '.' + b64u(await crypto.subtle.sign('HMAC', k2, enc(body)));
         const [h, p, s] = token.split('.');
         const ok2 = await crypto.subtle.verify('HMAC', k2, unb64(s.replace(/-/g, '+').replace(/_/g, '/') + '='), enc(h + '.' + p));
         return [b64u(sig), good, bad, ok2, key.algorithm.length, key.algorithm.hash.name, k2.algorithm.length];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            true,
            false,
            true,
            512,
            "SHA-256",
            512
        ])
    );
}

#[test]
fn webhook_hmac_sha256_matches_openssl() {
    // printf '%s' '{"id":"evt_1","type":"payment.succeeded"}' | openssl dgst -sha256 -hmac 'whsec_test_secret'
    let v = eval(
        "const key = await crypto.subtle.importKey('raw', enc('whsec_test_secret'), { name: 'HMAC', hash: { name: 'SHA-256' } }, false, ['sign']);
         return hex(await crypto.subtle.sign('HMAC', key, enc('{\"id\":\"evt_1\",\"type\":\"payment.succeeded\"}')));",
    );
    assert_eq!(
        v,
        "526884e0d763f2e62655593829e95c03e655549c21f0f04931af8bfe49d5b851"
    );
}

#[test]
fn digests_of_fips_180_abc() {
    let v = eval(
        "const out = [];
         for (const h of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512']) out.push(hex(await crypto.subtle.digest(h, enc('abc'))));
         let unknown; try { await crypto.subtle.digest('SHA-224', enc('abc')); } catch (e) { unknown = e.name; }
         let notBytes; try { await crypto.subtle.digest('SHA-256', 'abc'); } catch (e) { notBytes = e.name; }
         return [out[0], out[1], unknown, notBytes];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "NotSupportedError",
            "TypeError"
        ])
    );
}

// Made with: openssl ecparam -name prime256v1 -genkey -noout -out ec.pem; openssl pkcs8 -topk8
// -nocrypt -in ec.pem -outform DER; openssl ec -in ec.pem -pubout -outform DER; printf 'hello
// stockade' | openssl dgst -sha256 -sign ec.pem (DER, converted to r || s); base64.
const EC_P8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgcXjjx+0OUtqyJ/q7w8Kr9PVevfaQP+7Ahgt4d+3rYUyhRANCAAR7Z5bDVbhT71U5fMh4T2HYealIkqq4Z7EwPwed4g14g6pa0TxCNX3WB2LJksuqapjltf6/R3Pd8XPEsl2huLID";
const EC_SPKI: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEe2eWw1W4U+9VOXzIeE9h2HmpSJKquGexMD8HneINeIOqWtE8QjV91gdiyZLLqmqY5bX+v0dz3fFzxLJdobiyAw==";
const EC_SIG: &str =
    "JPyRNdaC94P+7Nlvx41OGpga8Im6t21zxDFbfcGBh1GDtMOTSmXo7A4GAr5dyfq11Sp/VlYUpQ6yz+1GSL05Ag==";

#[test]
fn ecdsa_p256_interoperates_with_openssl_keys_and_signatures() {
    let v = eval(&format!(
        "const alg = {{ name: 'ECDSA', namedCurve: 'P-256' }};
         const pub = await crypto.subtle.importKey('spki', unb64('{EC_SPKI}'), alg, true, ['verify']);
         const priv = await crypto.subtle.importKey('pkcs8', unb64('{EC_P8}'), alg, true, ['sign']);
         const msg = enc('hello stockade');
         const p = {{ name: 'ECDSA', hash: 'SHA-256' }};
         const theirs = await crypto.subtle.verify(p, pub, unb64('{EC_SIG}'), msg);
         const mine = await crypto.subtle.sign(p, priv, msg);
         const roundTrip = await crypto.subtle.verify(p, pub, mine, msg);
         const tampered = await crypto.subtle.verify(p, pub, mine, enc('hello stockadE'));
         // The same public key as a JWK (x and y of the point OpenSSL made).
         const jwkPub = await crypto.subtle.importKey('jwk', {{ kty: 'EC', crv: 'P-256', x: 'e2eWw1W4U-9VOXzIeE9h2HmpSJKquGexMD8HneINeIM', y: 'qlrRPEI1fdYHYsmSy6pqmOW1_r9Hc93xc8SyXaG4sgM' }}, alg, true, ['verify']);
         const viaJwk = await crypto.subtle.verify(p, jwkPub, unb64('{EC_SIG}'), msg);
         const exported = await crypto.subtle.exportKey('jwk', priv);
         const spkiBack = b64u(await crypto.subtle.exportKey('spki', pub)) === b64u(unb64('{EC_SPKI}'));
         // A generated pair.
         const pair = await crypto.subtle.generateKey({{ name: 'ECDSA', namedCurve: 'P-384' }}, false, ['sign', 'verify']);
         const s384 = await crypto.subtle.sign({{ name: 'ECDSA', hash: 'SHA-384' }}, pair.privateKey, msg);
         const v384 = await crypto.subtle.verify({{ name: 'ECDSA', hash: 'SHA-384' }}, pair.publicKey, s384, msg);
         let wrongType; try {{ await crypto.subtle.sign(p, pub, msg); }} catch (e) {{ wrongType = e.name; }}
         return [theirs, new Uint8Array(mine).length, roundTrip, tampered, viaJwk, exported.x, exported.crv, typeof exported.d, spkiBack, v384, wrongType, pair.privateKey.extractable, pair.publicKey.usages];"
    ));
    assert_eq!(
        v,
        serde_json::json!([
            true,
            64,
            true,
            false,
            true,
            "e2eWw1W4U-9VOXzIeE9h2HmpSJKquGexMD8HneINeIM",
            "P-256",
            "string",
            true,
            true,
            "InvalidAccessError",
            false,
            ["verify"]
        ])
    );
}

/// Cloudflare's legacy `NODE-ED25519` (Discord's interaction check in Workers code): a raw public
/// key imported under that name verifies RFC 8032's first test vector (section 7.1, TEST 1: the
/// empty message) and refuses a changed signature.
#[test]
fn node_ed25519_is_ed25519_as_on_cloudflare() {
    let v = eval(
        "const hex = (h) => Uint8Array.from(h.match(/../g), (b) => parseInt(b, 16));
         const key = await crypto.subtle.importKey('raw',
           hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'),
           { name: 'NODE-ED25519', namedCurve: 'NODE-ED25519' }, false, ['verify']);
         const sig = hex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
         const good = await crypto.subtle.verify('NODE-ED25519', key, sig, new Uint8Array(0));
         sig[0] ^= 1;
         const bad = await crypto.subtle.verify({ name: 'NODE-ED25519' }, key, sig, new Uint8Array(0));
         return [good, bad];",
    );
    assert_eq!(v, serde_json::json!([true, false]));
}

// Made with: openssl genpkey -algorithm ed25519 -out ed.pem; openssl pkey -in ed.pem -outform DER;
// openssl pkey -in ed.pem -pubout -outform DER; printf 'hello stockade' | openssl pkeyutl -sign
// -inkey ed.pem -rawin; base64.
const ED_P8: &str = "MC4CAQAwBQYDK2VwBCIEINCbZTTI7RsMWd+AntkrCkGeTbQI2XvcwmsmX6pWSMsj";
const ED_SPKI: &str = "MCowBQYDK2VwAyEA9yQzG2BAFyfpSQZUh2iERwnVX5+HdWOOkG9k/MGe+Vc=";
const ED_SIG: &str =
    "W2qzdk8mubruk7CeXrWUGyZaiL93r7A/QyYT7cQ5KwAUz9SU7J8A8DN4jnp1mHHJ0xymuDr0WabYo5cWPHf1Dg==";

#[test]
fn ed25519_matches_openssl_byte_for_byte() {
    let v = eval(&format!(
        "const pub = await crypto.subtle.importKey('spki', unb64('{ED_SPKI}'), 'Ed25519', true, ['verify']);
         const priv = await crypto.subtle.importKey('pkcs8', unb64('{ED_P8}'), {{ name: 'Ed25519' }}, true, ['sign']);
         const msg = enc('hello stockade');
         // Ed25519 is deterministic: our signature must be OpenSSL's.
         const mine = b64u(await crypto.subtle.sign('Ed25519', priv, msg)) === b64u(unb64('{ED_SIG}'));
         const theirs = await crypto.subtle.verify('Ed25519', pub, unb64('{ED_SIG}'), msg);
         const other = await crypto.subtle.verify('Ed25519', pub, unb64('{ED_SIG}'), enc('hello'));
         const jwk = await crypto.subtle.exportKey('jwk', priv);
         const raw = b64u(await crypto.subtle.exportKey('raw', pub));
         const back = await crypto.subtle.importKey('jwk', jwk, 'Ed25519', false, ['sign']);
         const again = b64u(await crypto.subtle.sign('Ed25519', back, msg)) === b64u(unb64('{ED_SIG}'));
         const p8 = b64u(await crypto.subtle.exportKey('pkcs8', priv)) === b64u(unb64('{ED_P8}'));
         const pair = await crypto.subtle.generateKey('Ed25519', true, ['sign', 'verify']);
         const rt = await crypto.subtle.verify('Ed25519', pair.publicKey, await crypto.subtle.sign('Ed25519', pair.privateKey, msg), msg);
         return [mine, theirs, other, jwk.kty, jwk.crv, jwk.x === raw, again, p8, rt];"
    ));
    assert_eq!(
        v,
        serde_json::json!([true, true, false, "OKP", "Ed25519", true, true, true, true])
    );
}

#[test]
fn aes_gcm_round_trip_and_tamper_detection() {
    let v = eval(
        "const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt', 'decrypt']);
         const iv = crypto.getRandomValues(new Uint8Array(12));
         const aad = enc('header');
         const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, enc('attack at dawn'));
         const pt = new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, ct));
         const bad = new Uint8Array(ct); bad[0] ^= 1;
         let tampered; try { await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, bad); } catch (e) { tampered = e.name; }
         let wrongAad; try { await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: enc('x') }, key, ct); } catch (e) { wrongAad = e.name; }
         const raw = await crypto.subtle.exportKey('raw', key);
         const jwk = await crypto.subtle.exportKey('jwk', key);
         return [new Uint8Array(ct).length, pt, tampered, wrongAad, raw.byteLength, jwk.alg, jwk.key_ops];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            30,
            "attack at dawn",
            "OperationError",
            "OperationError",
            32,
            "A256GCM",
            ["encrypt", "decrypt"]
        ])
    );
}

#[test]
fn kdfs_wrapping_and_key_agreement() {
    // RFC 6070 (PBKDF2-HMAC-SHA1, c = 4096) and RFC 5869 test case 1 (HKDF-SHA256).
    let v = eval(
        "const pw = await crypto.subtle.importKey('raw', enc('password'), 'PBKDF2', false, ['deriveBits', 'deriveKey']);
         const p = hex(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-1', salt: enc('salt'), iterations: 4096 }, pw, 160));
         const ikm = await crypto.subtle.importKey('raw', new Uint8Array(22).fill(0x0b), 'HKDF', false, ['deriveBits']);
         const salt = Uint8Array.from({ length: 13 }, (_, i) => i);
         const info = Uint8Array.from({ length: 10 }, (_, i) => 0xf0 + i);
         const h = hex(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, ikm, 42 * 8));
         const aes = await crypto.subtle.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: enc('s'), iterations: 1000 }, pw, { name: 'AES-KW', length: 128 }, true, ['wrapKey', 'unwrapKey']);
         const inner = await crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
         const wrapped = await crypto.subtle.wrapKey('raw', inner, aes, 'AES-KW');
         const unwrapped = await crypto.subtle.unwrapKey('raw', wrapped, aes, 'AES-KW', { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
         const same = hex(await crypto.subtle.exportKey('raw', inner)) === hex(await crypto.subtle.exportKey('raw', unwrapped));
         const a = await crypto.subtle.generateKey('X25519', false, ['deriveBits']);
         const b = await crypto.subtle.generateKey('X25519', false, ['deriveBits']);
         const ab = hex(await crypto.subtle.deriveBits({ name: 'X25519', public: b.publicKey }, a.privateKey, 256));
         const ba = hex(await crypto.subtle.deriveBits({ name: 'X25519', public: a.publicKey }, b.privateKey, 256));
         const e1 = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
         const e2 = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveBits']);
         const ecdh = hex(await crypto.subtle.deriveBits({ name: 'ECDH', public: e2.publicKey }, e1.privateKey, 256)) === hex(await crypto.subtle.deriveBits({ name: 'ECDH', public: e1.publicKey }, e2.privateKey, 256));
         return [p, h, new Uint8Array(wrapped).length, same, ab === ba, ecdh];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "4b007901b765489abead49d926f721d065a429c1",
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
            72,
            true,
            true,
            true
        ])
    );
}

#[test]
fn pbkdf2_over_the_iteration_cap_is_a_clear_error() {
    let v = eval(
        "const pw = await crypto.subtle.importKey('raw', enc('pw'), 'PBKDF2', false, ['deriveBits']);
         try { await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: enc('s'), iterations: 100001 }, pw, 256); return 'no error'; }
         catch (e) { return [e.name, e instanceof DOMException, /100000/.test(e.message)]; }",
    );
    assert_eq!(v, serde_json::json!(["NotSupportedError", true, true]));
}

#[test]
fn key_material_is_unreachable_and_errors_are_typed() {
    let v = eval(
        "const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, false, ['encrypt']);
         const own = Reflect.ownKeys(key).length + Object.getOwnPropertyNames(Object.getPrototypeOf(key)).join(',');
         let exp; try { await crypto.subtle.exportKey('raw', key); } catch (e) { exp = e.name; }
         let usage; try { await crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, new Uint8Array(32)); } catch (e) { usage = e.name; }
         let badUsage; try { await crypto.subtle.generateKey({ name: 'AES-GCM', length: 128 }, true, ['sign']); } catch (e) { badUsage = e.name; }
         let badLen; try { await crypto.subtle.importKey('raw', new Uint8Array(5), 'AES-GCM', true, ['encrypt']); } catch (e) { badLen = e.name; }
         let badJwk; try { await crypto.subtle.importKey('jwk', { kty: 'oct', k: '!!' }, 'AES-GCM', true, ['encrypt']); } catch (e) { badJwk = e.name; }
         let clone; try { structuredClone(key); } catch (e) { clone = e.name; }
         return [own, exp, usage, badUsage, badLen, badJwk, clone, String(key)];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            "0constructor,type,extractable,algorithm,usages",
            "InvalidAccessError",
            "InvalidAccessError",
            "SyntaxError",
            "DataError",
            "DataError",
            "DataCloneError",
            "[object CryptoKey]"
        ])
    );
}

#[test]
fn rsa_signatures_and_oaep_round_trip() {
    // Two 2048-bit key generations cost what the prime searches take: a median of 160 ms CPU,
    // now and then past the usual 500 ms limit; the limit here only stops a hang.
    let roomy = Limits {
        cpu: Duration::from_secs(30),
        wall: Duration::from_secs(120),
        ..limits()
    };
    let v = eval_with(
        roomy,
        "const alg = { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
         const pair = await crypto.subtle.generateKey(alg, true, ['sign', 'verify']);
         const msg = enc('hello');
         const sig = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', pair.privateKey, msg);
         const ok1 = await crypto.subtle.verify('RSASSA-PKCS1-v1_5', pair.publicKey, sig, msg);
         const jwk = await crypto.subtle.exportKey('jwk', pair.privateKey);
         const pss = await crypto.subtle.importKey('jwk', { ...jwk, alg: 'PS256', key_ops: ['sign'] }, { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['sign']);
         const pssPub = await crypto.subtle.importKey('spki', await crypto.subtle.exportKey('spki', pair.publicKey), { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['verify']);
         const psig = await crypto.subtle.sign({ name: 'RSA-PSS', saltLength: 32 }, pss, msg);
         const ok2 = await crypto.subtle.verify({ name: 'RSA-PSS', saltLength: 32 }, pssPub, psig, msg);
         const oaep = await crypto.subtle.generateKey({ name: 'RSA-OAEP', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['encrypt', 'decrypt']);
         const ct = await crypto.subtle.encrypt({ name: 'RSA-OAEP', label: enc('l') }, oaep.publicKey, msg);
         const pt = new TextDecoder().decode(await crypto.subtle.decrypt({ name: 'RSA-OAEP', label: enc('l') }, oaep.privateKey, ct));
         let big; try { await crypto.subtle.generateKey({ ...alg, modulusLength: 8192 }, true, ['sign']); } catch (e) { big = e.name; }
         return [ok1, ok2, pt, jwk.kty, jwk.alg, pair.publicKey.algorithm.modulusLength, Array.from(pair.publicKey.algorithm.publicExponent), big];",
    );
    assert_eq!(
        v,
        serde_json::json!([
            true,
            true,
            "hello",
            "RSA",
            "RS256",
            2048,
            [1, 0, 1],
            "NotSupportedError"
        ])
    );
}

/// A native op that would outrun the request's CPU budget stops when the watchdog terminates the
/// isolate, within the watchdog's grace: the request ends as its CPU limit, not as a hang, and no
/// isolate is reported unresponsive.
fn ends_within_its_cpu_limit(body: &str) -> bool {
    let before = engine().unresponsive_isolates();
    let started = Instant::now();
    let limits = Limits {
        wall: Duration::from_secs(60),
        ..Limits::default()
    };
    let src = format!("export default async () => {{ {body} }};");
    let inv = run_with(limits, &[("main.js", &src)], "null");
    let elapsed = started.elapsed();
    let limited = match inv.result {
        Ok(_) => false,
        Err(RunError::Limit(LimitKind::Cpu)) => true,
        Err(e) => panic!("expected success or the CPU limit, got {e:?}"),
    };
    // Generous for a loaded machine: the CPU limit is 50 ms; a hang would run to the 60 s wall.
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    assert_eq!(
        engine().unresponsive_isolates(),
        before,
        "an op ran past the grace"
    );
    limited
}

#[test]
fn rsa_4096_generation_stays_within_the_default_cpu_limit() {
    // Usually the limit (prime search at 2048 bits takes longer than 50 ms); either way, no hang.
    ends_within_its_cpu_limit(
        "await crypto.subtle.generateKey({ name: 'RSA-PSS', modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign']); return 1;",
    );
}

#[test]
fn a_long_pbkdf2_stops_at_the_cpu_limit() {
    // 100 000 iterations for each of 128 blocks: seconds of work, cut at the 50 ms limit.
    let limited = ends_within_its_cpu_limit(
        "const pw = await crypto.subtle.importKey('raw', new TextEncoder().encode('pw'), 'PBKDF2', false, ['deriveBits']);
         await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-512', salt: new Uint8Array(8), iterations: 100000 }, pw, 8192 * 8); return 1;",
    );
    assert!(
        limited,
        "PBKDF2 over 128 blocks should have hit the CPU limit"
    );
}

#[test]
fn pbkdf2_of_zero_bits_is_empty_and_of_null_bits_an_error() {
    let v = eval(
        "const pw = await crypto.subtle.importKey('raw', enc('pw'), 'PBKDF2', false, ['deriveBits']);
         const p = { name: 'PBKDF2', hash: 'SHA-256', salt: enc('s'), iterations: 1 };
         const empty = (await crypto.subtle.deriveBits(p, pw, 0)).byteLength;
         let none; try { await crypto.subtle.deriveBits(p, pw); } catch (e) { none = e.name; }
         return [empty, none];",
    );
    assert_eq!(v, serde_json::json!([0, "OperationError"]));
}
