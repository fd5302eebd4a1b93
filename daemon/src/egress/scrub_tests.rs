//! Unit tests of the scrubber: the forms a value is found in, pieces, overlaps, linearity.

use super::*;

fn values(v: &[&str]) -> Vec<SecretValue> {
    v.iter().map(|s| SecretValue(s.to_string())).collect()
}

/// `body` scrubbed whole, and checked to scrub the same cut into two or three pieces anywhere.
fn scrubbed_every_way(body: &[u8], values: &[SecretValue]) -> Vec<u8> {
    let whole = scrub(body, values);
    for a in 0..=body.len() {
        for b in a..=body.len() {
            let mut scrubber = Scrubber::new(values);
            let mut out = scrubber.push(&body[..a]);
            out.extend(scrubber.push(&body[a..b]));
            out.extend(scrubber.push(&body[b..]));
            out.extend(scrubber.finish());
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&whole),
                "cut at {a} and {b}"
            );
        }
    }
    whole
}

#[test]
fn a_value_split_across_pieces_is_still_scrubbed() {
    let values = values(&["s3cr3t-value"]);
    let body = b"before s3cr3t-value middle czNjcjN0LXZhbHVl after s3cr3t%2Dvalue";
    let whole = scrubbed_every_way(body, &values);
    assert_eq!(
        whole,
        b"before [redacted] middle [redacted] after [redacted]".to_vec()
    );
}

#[test]
fn only_the_start_of_a_value_or_an_unfinished_escape_is_held_back() {
    let mut scrubber = Scrubber::new(&values(&["s3cr3t-value"]));
    assert_eq!(scrubber.push(b"data: 1\n\n"), b"data: 1\n\n");
    assert_eq!(scrubber.push(b"x s3cr"), b"x ");
    assert_eq!(scrubber.push(b"3t-value y"), b"[redacted] y");
    assert_eq!(scrubber.push(b" s3"), b" ");
    // An escape cut short may stand for the value's next character.
    assert_eq!(scrubber.push(b"cr%3"), b"");
    assert_eq!(scrubber.push(b"3t-value"), b"[redacted]");
    assert_eq!(scrubber.push(b" 50%"), b" 50");
    assert_eq!(scrubber.push(b" off"), b"% off");
    assert_eq!(scrubber.push(b" \\u00"), b" ");
    assert_eq!(scrubber.finish(), b"\\u00");
}

#[test]
fn each_character_may_be_written_in_any_common_escape_mixed_in_one_occurrence() {
    let key = "sk-LIVE/ab+c&d<e>f=Zq9 \"x\"";
    let v = values(&[key]);
    let echoed: Vec<String> = vec![
        key.to_string(),
        // serde_json, JavaScript's JSON.stringify.
        {
            let json = serde_json::to_string(key).expect("json");
            json[1..json.len() - 1].to_string()
        },
        // Go's encoding/json: <, > and & as \u escapes.
        r#"sk-LIVE/ab+c\u0026d\u003ce\u003ef=Zq9 \"x\""#.into(),
        // PHP's json_encode: \/ .
        r#"sk-LIVE\/ab+c&d<e>f=Zq9 \"x\""#.into(),
        // Every character a \u escape, upper-case hex.
        key.chars()
            .map(|c| format!("\\u{:04X}", c as u32))
            .collect(),
        // encodeURIComponent, and a form body (space as +).
        "sk-LIVE%2Fab%2Bc%26d%3Ce%3Ef%3DZq9%20%22x%22".into(),
        "sk-LIVE%2fab%2bc%26d%3ce%3ef%3dZq9+%22x%22".into(),
        // A URL parser's path normalisation (only <, >, space and " encoded).
        "sk-LIVE/ab+c&d%3Ce%3Ef=Zq9%20%22x%22".into(),
        // HTML escaping, named and numeric.
        "sk-LIVE/ab+c&amp;d&lt;e&gt;f=Zq9 &quot;x&#34;".into(),
        "sk-LIVE&#x2F;ab&#43;c&amp;d&#60;e&#X3e;f=Zq9&#32;&quot;x&quot;".into(),
        // A header name, lower-cased by the HTTP stack.
        key.to_ascii_lowercase(),
        key.to_ascii_uppercase(),
        // Hex, either case.
        key.bytes().map(|b| format!("{b:02x}")).collect(),
        key.bytes().map(|b| format!("{b:02X}")).collect(),
    ];
    for form in &echoed {
        let body = format!("{{\"k\": \"{form}\"}}");
        assert_eq!(
            String::from_utf8_lossy(&scrub(body.as_bytes(), &v)),
            "{\"k\": \"[redacted]\"}",
            "{form}"
        );
    }
}

#[test]
fn base64_of_a_value_is_found_at_any_alignment_in_either_alphabet() {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let key = "sk-LIVE/ab+c&d<e>f=Zq9~~~?";
    let v = values(&[key]);
    for prefix in ["", "u", "us", "use", "user:"] {
        for encoded in [
            STANDARD.encode(format!("{prefix}{key}")),
            URL_SAFE_NO_PAD.encode(format!("{prefix}{key}|tail")),
        ] {
            let body = format!("Authorization: Basic {encoded}");
            let out = String::from_utf8_lossy(&scrub(body.as_bytes(), &v)).into_owned();
            assert!(out.contains("[redacted]"), "{prefix:?}: {out}");
            // What is left of the encoding decodes to no more than a few characters of it.
            for piece in out.split("[redacted]") {
                let decoded = STANDARD
                    .decode(piece.trim_start_matches("Authorization: Basic "))
                    .unwrap_or_default();
                assert!(
                    !String::from_utf8_lossy(&decoded).contains(&key[..4]),
                    "{prefix:?}: {out}"
                );
            }
        }
    }
    // Unrelated base64 is left alone.
    let other = STANDARD.encode("nothing to see here at all");
    assert_eq!(scrub(other.as_bytes(), &v), other.as_bytes());
}

#[test]
fn overlapping_occurrences_are_replaced_as_one_and_no_value_survives_whole() {
    let v = values(&["abcabc"]);
    let body = b"xabcabcabcy abcab";
    assert_eq!(scrub(body, &v), b"x[redacted]y abcab".to_vec());
    // Cut anywhere, an occurrence overlapping one replaced before the cut may lose its start
    // with it, and its end goes out: never the value whole.
    for a in 0..=body.len() {
        let mut scrubber = Scrubber::new(&v);
        let mut out = scrubber.push(&body[..a]);
        out.extend(scrubber.push(&body[a..]));
        out.extend(scrubber.finish());
        let out = String::from_utf8_lossy(&out).into_owned();
        assert!(
            out.starts_with("x[redacted]") && !out.contains("abcabc"),
            "{a}: {out}"
        );
    }
    let two = values(&["abc", "abcdef"]);
    assert_eq!(scrub(b"xabcdefyabcz", &two), b"x[redacted]y[redacted]z");
    assert_eq!(scrub(b"nothing", &two), b"nothing");
    assert_eq!(scrub(b"abcab", &two), b"[redacted]ab");
    assert_eq!(scrub_str("abcabc", &two[..1]), "[redacted][redacted]");
}

#[test]
fn plain_text_and_unfinished_escapes_at_the_end_pass_unchanged() {
    let v = values(&["s3cr3t-value"]);
    for text in [
        "a=1&b=2&lt 50% \\ \\u12 &#12 &#x &amp",
        "100%",
        "trailing \\",
        "&",
        "",
    ] {
        assert_eq!(scrub_str(text, &v), text);
        assert!(!holds_any(text, &v));
    }
    assert!(holds_any("http://h/got/s3cr3t%2dvalue", &v));
    assert!(!holds_any("s3cr3t-value", &[]));
}

#[test]
fn scrubbing_stays_linear_in_the_body() {
    // Adversarial bytes: 4 MiB of near-misses of a 4 KiB value, and of escapes that never end.
    let long = SecretValue(format!("{}b", "a".repeat(4095)));
    let start = std::time::Instant::now();
    let body = vec![b'a'; 4 << 20];
    assert_eq!(scrub(&body, std::slice::from_ref(&long)).len(), body.len());
    let body = b"%\\u&#".repeat(1 << 20);
    assert_eq!(scrub(&body, std::slice::from_ref(&long)), body);
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
}
