//! node:fs's `/bundle` through the Loader API of a real daemon with jailed workers: a worker's
//! modules, as POST /v1/workers received them (an ES module, one in a folder, a text and a data
//! module), are files under `/bundle` that its requests list (recursively too) and read, also
//! through a symbolic link in /tmp, and cannot change (`access` W_OK: ENOENT, as workerd).
mod common;
use common::*;

const MAIN: &str = "import fs from 'node:fs';
export default { async fetch() {
  let write, access;
  try { fs.writeFileSync('/bundle/main.js', 'x'); } catch (e) { write = [e.code, e.syscall]; }
  try { fs.accessSync('/bundle/notes.txt', fs.constants.W_OK); } catch (e) { access = e.code; }
  fs.symlinkSync('../bundle/lib', '/tmp/lib');
  return Response.json({
    root: fs.readdirSync('/bundle'),
    lib: fs.readdirSync('/bundle/lib'),
    util: fs.readFileSync('/bundle/lib/util.js', 'utf8'),
    notes: fs.readFileSync('/bundle/notes.txt', 'utf8'),
    notesSize: fs.statSync('/bundle/notes.txt').size,
    blob: [...fs.readFileSync('/bundle/blob.bin')],
    mainSize: fs.statSync('/bundle/main.js').size,
    write,
    access,
    recursive: fs.readdirSync('/bundle', { recursive: true }),
    linked: [fs.readFileSync('/tmp/lib/util.js', 'utf8'), fs.lstatSync('/tmp/lib').isSymbolicLink(),
      fs.realpathSync('/tmp/lib/util.js')],
  });
} };";

const UTIL: &str = "export const x = 1;\n";
const NOTES: &str = "naïve ✓\n";

#[test]
fn a_loaded_workers_modules_are_read_only_files_under_bundle() {
    let d = Daemon::start("nodefs", 1, 1, "");
    let r = client()
        .post(format!("{}/v1/workers", d.base))
        .bearer_auth(tenant_token(0))
        .json(&serde_json::json!({
            "mainModule": "main.js",
            "modules": {
                "main.js": MAIN,
                "lib/util.js": UTIL,
                "notes.txt": { "text": NOTES },
                // [0, 1, 255, 128]
                "blob.bin": { "data": "AAH/gA==" },
            },
            "compatibilityDate": "2025-09-01",
            "compatibilityFlags": ["nodejs_compat"],
        }))
        .send()
        .expect("create");
    let status = r.status().as_u16();
    let v: serde_json::Value = r.json().expect("json");
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base))
        .bearer_auth(tenant_token(0))
        .send()
        .expect("fetch");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        v["root"],
        serde_json::json!(["blob.bin", "lib", "main.js", "notes.txt"])
    );
    assert_eq!(v["lib"], serde_json::json!(["util.js"]));
    assert_eq!(v["util"], UTIL);
    assert_eq!(v["notes"], NOTES);
    assert_eq!(v["notesSize"], NOTES.len());
    assert_eq!(v["blob"], serde_json::json!([0, 1, 255, 128]));
    assert_eq!(v["mainSize"], MAIN.len());
    assert_eq!(v["write"], serde_json::json!(["EPERM", "open"]));
    assert_eq!(v["access"], "ENOENT");
    assert_eq!(
        v["recursive"],
        serde_json::json!(["blob.bin", "lib", "main.js", "notes.txt", "lib/util.js"])
    );
    assert_eq!(
        v["linked"],
        serde_json::json!([UTIL, true, "/bundle/lib/util.js"])
    );
}
