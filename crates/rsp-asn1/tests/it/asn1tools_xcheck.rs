//! Holds rsp-asn1 to a second implementation: Python `asn1tools` compiles the shared
//! RSPDefinitions module and encodes the same sample values (`tests/asn1tools/xcheck.py`);
//! our encoding must be byte-identical and our decoder must read its bytes back to the value.

use std::collections::BTreeMap;
use std::process::Command;

#[derive(serde::Deserialize)]
struct Encoded {
    #[serde(rename = "type")]
    asn1_type: String,
    hex: String,
}

/// What `xcheck.py ARGS` prints; `None` (with a notice) when `../shared` or, outside CI,
/// asn1tools is missing.
pub(crate) fn xcheck(args: &[&str]) -> Option<Vec<u8>> {
    let shared = crate::common::shared_dir()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/asn1tools/xcheck.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg(script)
        .args(args)
        .env("RSP_SHARED_DIR", &shared)
        .output()
        .unwrap_or_else(|e| panic!("running {python} {script}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("No module named 'asn1tools'")
            && std::env::var("RSP_REQUIRE_SHARED").as_deref() != Ok("1")
        {
            eprintln!("NOTICE: Python asn1tools not installed (pip install asn1tools); skipping");
            return None;
        }
        panic!("xcheck.py {args:?} failed:\n{stderr}");
    }
    Some(out.stdout)
}

#[test]
fn asn1tools_encodes_every_sample_like_we_do() {
    let Some(out) = xcheck(&[]) else {
        return;
    };
    let theirs: BTreeMap<String, Encoded> = serde_json::from_slice(&out).unwrap();

    let ours = crate::common::samples();
    let mut failures = Vec::new();
    for s in &ours {
        let Some(t) = theirs.get(s.name) else {
            failures.push(format!("{}: missing from xcheck.py", s.name));
            continue;
        };
        assert_eq!(t.asn1_type, s.asn1_type, "{}: type name", s.name);
        let their_der = hex::decode(&t.hex).unwrap();
        if their_der != s.der {
            failures.push(format!(
                "{} ({}):\n  asn1tools {}\n  rsp-asn1  {}",
                s.name,
                s.asn1_type,
                t.hex,
                hex::encode_upper(&s.der)
            ));
            continue;
        }
        match (s.equals_value)(&their_der) {
            Ok(true) => {}
            Ok(false) => failures.push(format!("{}: decodes to a different value", s.name)),
            Err(e) => failures.push(format!("{}: {e}", s.name)),
        }
    }
    for name in theirs.keys() {
        if !ours.iter().any(|s| s.name == name) {
            failures.push(format!("{name}: in xcheck.py but not in tests/common"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!("{} samples byte-identical with asn1tools", ours.len());
}
