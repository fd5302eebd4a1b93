//! Hashing bodies of any length the same way in a worker and in a test: `digest(bytes)` is the
//! SHA-256 (hex) of the SHA-256 of each MiB, since one `crypto.subtle.digest` takes at most
//! 16 MiB. Prepend [`DIGEST_JS`] to a worker's module.

pub const DIGEST_JS: &str = r#"
const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('');
const digest = async (b) => {
  const all = new Uint8Array(b);
  const parts = new Uint8Array(32 * Math.ceil(all.length / (1 << 20)));
  for (let at = 0, i = 0; at < all.length; at += 1 << 20, i++) {
    parts.set(new Uint8Array(await crypto.subtle.digest('SHA-256', all.subarray(at, at + (1 << 20)))), 32 * i);
  }
  return hex(await crypto.subtle.digest('SHA-256', parts));
};
"#;
