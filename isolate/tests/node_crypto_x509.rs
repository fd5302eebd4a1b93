//! node:crypto's X509Certificate in real isolates against real Node: every field, the
//! fingerprints, the public key, signature checks and the host/email/IP checks of three
//! certificates (node_crypto_support/certs: an RSA CA, a P-256 leaf it signed with SANs and
//! extended key usage, an Ed25519 self-signed one) must come out the same.
mod common;
mod node_crypto_support;
use node_crypto_support::*;

fn with_certs(body: &str) -> String {
    let certs = serde_json::json!({
        "ca": include_str!("node_crypto_support/certs/ca.pem"),
        "leaf": include_str!("node_crypto_support/certs/leaf.pem"),
        "ed": include_str!("node_crypto_support/certs/ed.pem"),
    });
    format!("const C = {certs}; {body}")
}

#[test]
fn certificate_fields_match_node() {
    same(&with_certs(
        "const out = [];
         for (const name of ['ca', 'leaf', 'ed']) {
           const x = new crypto.X509Certificate(C[name]);
           out.push(name, x.subject, x.issuer, x.validFrom, x.validTo, x.serialNumber, x.fingerprint, x.fingerprint256,
             x.fingerprint512, x.ca, x.keyUsage ?? null, x.subjectAltName ?? null, x.infoAccess ?? null,
             x.publicKey.asymmetricKeyType, x.publicKey.export({ type: 'spki', format: 'pem' }), x.toString() === C[name],
             x.toJSON() === C[name], x.raw.length, new crypto.X509Certificate(x.raw).fingerprint256 === x.fingerprint256,
             x.issuerCertificate ?? null, Object.prototype.toString.call(x));
         }
         const t = (f) => { try { return f(); } catch (e) { return [e.name, e.code ?? null]; } };
         out.push(t(() => new crypto.X509Certificate('garbage')), t(() => new crypto.X509Certificate(Buffer.from([0x30, 3, 1, 1, 1]))),
           t(() => new crypto.X509Certificate(42)));
         return out;",
    ));
}

#[test]
fn signatures_and_name_checks_match_node() {
    let answers = same(&with_certs(
        "const ca = new crypto.X509Certificate(C.ca), leaf = new crypto.X509Certificate(C.leaf), ed = new crypto.X509Certificate(C.ed);
         const out = [leaf.verify(ca.publicKey), leaf.verify(leaf.publicKey), ca.verify(ca.publicKey), ed.verify(ed.publicKey),
           ca.verify(ed.publicKey), leaf.checkIssued(ca), ca.checkIssued(leaf), ca.checkIssued(ca)];
         for (const h of ['example.com', 'EXAMPLE.com', 'a.example.org', 'b.a.example.org', 'example.org', 'leaf.example.com', 'nope'])
           out.push(h, leaf.checkHost(h) ?? null);
         out.push(leaf.checkHost('leaf.example.com', { subject: 'always' }) ?? null, leaf.checkHost('a.example.org', { wildcards: false }) ?? null,
           ca.checkHost('Stockade Test CA') ?? null, ca.checkHost('stockade test ca', { subject: 'never' }) ?? null);
         out.push(leaf.checkEmail('admin@example.com') ?? null, leaf.checkEmail('ADMIN@EXAMPLE.COM') ?? null,
           leaf.checkEmail('admin@EXAMPLE.com') ?? null, leaf.checkEmail('subject@example.com') ?? null,
           leaf.checkEmail('subject@example.com', { subject: 'always' }) ?? null);
         out.push(leaf.checkIP('127.0.0.1') ?? null, leaf.checkIP('::1') ?? null, leaf.checkIP('0:0::1') ?? null, leaf.checkIP('127.0.0.2') ?? null);
         const t = (f) => { try { return f(); } catch (e) { return [e.name, e.code ?? null]; } };
         out.push(t(() => leaf.checkIP('nope')), t(() => leaf.verify('x')));
         return out;",
    ));
    assert_eq!(answers[0], true, "the CA's signature on the leaf verifies");
    assert_eq!(answers[1], false, "the leaf's own key did not sign it");
}
