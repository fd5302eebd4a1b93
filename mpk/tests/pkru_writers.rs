//! The guard is the only code that writes PKRU, in everything that ships (the daemon, the
//! worker, the engine and its C++ bridge): every `wrpkru` instruction, glibc `pkey_set` call and
//! call of the crate's private writer in the repository's sources is listed here by file. The
//! benchmarks time the bare instruction and ship in no binary.
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path.is_dir() {
            // Build output and checkouts of other projects are not our sources.
            if !name.starts_with('.') && name != "target" && !name.starts_with("target-") {
                sources(&path, out);
            }
        } else if ["rs", "cc", "c", "h", "S", "s"]
            .iter()
            .any(|ext| name.ends_with(&format!(".{ext}")))
        {
            out.push(path);
        }
    }
}

#[test]
fn only_the_guard_writes_pkru_in_code_that_ships() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 100, "the walk found the sources");
    let mut writers = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .to_string_lossy()
            .into_owned();
        if rel == "mpk/tests/pkru_writers.rs" {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("\"wrpkru\"")
                || code.contains("0x0f, 0x01, 0xef")
                || code.contains("pkey_set(")
                || code.contains("pkru::write(")
                || code.contains("unsafe fn write(pkru")
            {
                writers.push(format!("{rel}:{}", i + 1));
            }
        }
    }
    let places: Vec<&str> = writers
        .iter()
        .map(|w| w.split(':').next().unwrap_or(""))
        .collect();
    for place in &places {
        assert!(
            matches!(*place, "mpk/src/pkru.rs" | "mpk/src/guard.rs")
                || place.starts_with("benches/"),
            "PKRU written outside the guard: {writers:?}"
        );
    }
    // The instruction itself, and the guard's two calls of it (enter, restore).
    assert!(places.contains(&"mpk/src/pkru.rs"), "{writers:?}");
    assert_eq!(
        places.iter().filter(|p| **p == "mpk/src/guard.rs").count(),
        2,
        "{writers:?}"
    );
}
