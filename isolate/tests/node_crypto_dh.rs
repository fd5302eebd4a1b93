//! node:crypto's createECDH, createDiffieHellman and getDiffieHellman in real isolates against
//! real Node: public keys made on one side give the same shared secret on the other (both ways),
//! deterministic answers (a key set with setPrivateKey, point conversions, a group's prime, the
//! errors) are equal, and a Diffie-Hellman exponentiation past the CPU limit ends as that limit.
mod common;
mod node_crypto_support;
use node_crypto_support::*;

#[test]
fn ecdh_secrets_and_points_agree_with_node() {
    let made = node(
        "const out = {};
         for (const curve of ['prime256v1', 'secp384r1', 'secp521r1']) {
           const e = crypto.createECDH(curve); e.generateKeys();
           out[curve] = { priv: e.getPrivateKey('hex'), pub: e.getPublicKey('base64', 'compressed') };
         }
         return out;",
    );
    let body = format!(
        "const N = {made}; const out = [];
         for (const curve of ['prime256v1', 'secp384r1', 'secp521r1']) {{
           const mine = crypto.createECDH(curve); const pub = mine.generateKeys();
           const theirs = crypto.createECDH(curve); theirs.setPrivateKey(N[curve].priv, 'hex');
           out.push(mine.computeSecret(N[curve].pub, 'base64', 'hex') === theirs.computeSecret(pub, null, 'hex'),
             theirs.getPublicKey('base64', 'compressed') === N[curve].pub,
             theirs.getPublicKey('hex', 'hybrid'), theirs.getPublicKey('hex'),
             crypto.ECDH.convertKey(N[curve].pub, curve, 'base64', 'hex', 'uncompressed') === theirs.getPublicKey('hex'),
             crypto.ECDH.convertKey(theirs.getPublicKey('hex', 'hybrid'), curve, 'hex', 'base64', 'compressed'),
             theirs.getPrivateKey('hex') === N[curve].priv, pub.length);
         }}
         const t = (f) => {{ try {{ return f(); }} catch (e) {{ return [e.name, e.code ?? null, e.message]; }} }};
         const e = crypto.createECDH('prime256v1');
         out.push(t(() => crypto.createECDH('nope')), t(() => crypto.createECDH('P-256')), t(() => e.getPublicKey()),
           t(() => e.getPrivateKey()), t(() => e.computeSecret(Buffer.alloc(65, 1))));
         e.generateKeys();
         out.push(t(() => e.computeSecret(Buffer.alloc(65, 1))), t(() => e.setPrivateKey(Buffer.alloc(32))),
           t(() => e.setPrivateKey(Buffer.alloc(32, 255))), t(() => crypto.ECDH.convertKey(Buffer.alloc(65, 1), 'prime256v1')),
           t(() => e.getPublicKey('hex', 'bogus')), typeof crypto.ECDH);
         return out;"
    );
    let ours = same(&body);
    for i in [0, 8, 16] {
        assert_eq!(ours[i], true, "the shared secrets agree");
    }
}

#[test]
fn diffie_hellman_groups_and_primes_agree_with_node() {
    let made = node(
        "const a = crypto.getDiffieHellman('modp14'); a.generateKeys();
         const b = crypto.createDiffieHellman(a.getPrime(), a.getGenerator()); b.generateKeys();
         return { a: a.getPublicKey('hex'), aPriv: a.getPrivateKey('hex'), b: b.getPublicKey('hex'), bPriv: b.getPrivateKey('hex') };",
    );
    let body = format!(
        "const N = {made}; const out = [];
         const t = (f) => {{ try {{ return f(); }} catch (e) {{ return [e.name, e.code ?? null, e.message]; }} }};
         const a = crypto.getDiffieHellman('modp14'); a.generateKeys();
         const copy = crypto.createDiffieHellman(a.getPrime(), a.getGenerator()); copy.setPrivateKey(N.bPriv, 'hex');
         out.push(copy.generateKeys('hex') === N.b);
         out.push(a.computeSecret(N.a, 'hex', 'hex') === crypto.createDiffieHellman(a.getPrime()).setPrivateKey(N.aPriv, 'hex').computeSecret(a.getPublicKey(), null, 'hex'));
         out.push(a.computeSecret(Buffer.from([2])).length, a.verifyError, a.getGenerator('hex'), a.getPublicKey().length > 250);
         for (const g of ['modp1', 'modp2', 'modp5', 'modp14', 'modp15', 'modp16', 'modp17', 'modp18']) {{
           const d = crypto.getDiffieHellman(g);
           out.push(g, crypto.createHash('sha256').update(d.getPrime()).digest('hex'), d.verifyError);
         }}
         const small = crypto.createDiffieHellman(Buffer.from('17', 'hex'), Buffer.from([5]));
         small.setPrivateKey(Buffer.from([3]));
         out.push(small.verifyError, t(() => small.generateKeys('hex')));
         out.push(crypto.createDiffieHellman(Buffer.from('15', 'hex')).verifyError,
           crypto.createDiffieHellman(a.getPrime('hex'), 'hex', 5).getGenerator('hex'),
           crypto.createDiffieHellman(a.getPrime(), 'hex', '05', 'hex').getGenerator('hex'));
         const fresh = crypto.createDiffieHellman(512);
         out.push(fresh.verifyError, fresh.getPrime().length, fresh.getGenerator('hex'));
         const d = crypto.createDiffieHellman(a.getPrime());
         out.push(t(() => crypto.getDiffieHellman('nope')), t(() => d.getPublicKey()), t(() => d.getPrivateKey()),
           t(() => a.computeSecret(Buffer.from([1]))), t(() => a.computeSecret(Buffer.from([0]))), t(() => a.computeSecret(a.getPrime())),
           t(() => crypto.createDiffieHellman(a.getPrime(), 1)), t(() => crypto.createDiffieHellman(7)),
           typeof a.setPublicKey, a.constructor.name, d.constructor.name);
         return out;"
    );
    // A 512-bit safe-prime search costs what chance gives: a median of 60 ms CPU, one run in a
    // few hundred past the usual 500 ms limit; the limit here only stops a hang.
    let roomy = stockade_isolate::Limits {
        cpu: std::time::Duration::from_secs(30),
        wall: std::time::Duration::from_secs(120),
        ..common::limits()
    };
    let ours = same_with(roomy, &body);
    assert_eq!(ours[0], true, "setPrivateKey gives Node's public key");
    assert_eq!(ours[1], true, "the shared secrets agree");
}

#[test]
fn a_huge_exponentiation_ends_as_the_cpu_limit() {
    use std::time::Duration;
    use stockade_isolate::{LimitKind, Limits, RunError};
    // modp18's 8192-bit exponentiations in a loop, and a safe-prime search of 4096 bits: far past
    // a 200 ms budget; the ops stop between steps.
    let tight = || Limits {
        cpu: Duration::from_millis(200),
        wall: Duration::from_secs(60),
        ..Limits::default()
    };
    for body in [
        "const p = crypto.getDiffieHellman('modp18').getPrime();
         for (let i = 0; i < 1000; i++) crypto.createDiffieHellman(p).generateKeys();
         return 'finished';",
        "return crypto.createDiffieHellman(4096).getPrime().length;",
    ] {
        match common::err(stockade_with(tight(), body)) {
            RunError::Limit(LimitKind::Cpu) => {}
            other => panic!("{body}: expected the CPU limit, got {other:?}"),
        }
    }
}
