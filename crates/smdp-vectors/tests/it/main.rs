//! smdp-vectors: the shipped sessions (`testdata/sessions/`) are what this code records today,
//! byte for byte; they replay on both sides; their negative vectors still get SGP.22's
//! answers; their values check out with another crypto backend; and the SGP.26 and TS.48
//! sessions, which stay out of the repository, are made and checked at test time.

use std::path::{Path, PathBuf};
use std::process::Command;

use rsp_auth::{Backend, Curve};
use serde_json::Value;
use sha2::{Digest, Sha256};
use smdp_core::template::TemplateSource;
use smdp_vectors::{negative, replay, session, Params, PkiChoice};

fn sessions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/sessions")
}

/// The shipped sessions: our PKI, both curves, with and without a confirmation code, with
/// PPKs, one segment and several.
fn shipped() -> Vec<(&'static str, Params)> {
    let p = Params::default();
    vec![
        (
            "nist-minimal.json",
            Params {
                seed: 1,
                ..p.clone()
            },
        ),
        (
            "brp-minimal.json",
            Params {
                seed: 2,
                curve: Curve::BrainpoolP256r1,
                ..p.clone()
            },
        ),
        (
            "nist-confirmation-code.json",
            Params {
                seed: 3,
                confirmation_code: Some("12345678".into()),
                ..p.clone()
            },
        ),
        (
            "brp-ppk.json",
            Params {
                seed: 4,
                curve: Curve::BrainpoolP256r1,
                ppk: true,
                ..p.clone()
            },
        ),
        (
            "nist-minimal-4k.json",
            Params {
                seed: 5,
                profile: TemplateSource::Minimal { size: Some(4096) },
                ..p
            },
        ),
    ]
}

fn load(name: &str) -> Value {
    let path = sessions_dir().join(name);
    let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&raw).unwrap()
}

/// The first line where two files differ, for a readable failure.
fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  shipped: {x}\n  now:     {y}", i + 1);
        }
    }
    format!("lengths {} and {}", a.len(), b.len())
}

/// `SMDP_VECTORS_BLESS=1` writes the files anew (after a deliberate change of behaviour;
/// the diff is then the review).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_sessions_are_what_this_code_records() {
    let bless = std::env::var("SMDP_VECTORS_BLESS").as_deref() == Ok("1");
    for (name, p) in shipped() {
        let r = session::record(&p).await.unwrap();
        let now = session::to_file(&r.document).unwrap();
        let path = sessions_dir().join(name);
        if bless {
            std::fs::write(&path, &now).unwrap();
            continue;
        }
        let shipped = std::fs::read(&path).unwrap();
        assert!(
            shipped == now,
            "{name} is no longer what `{}` records (SMDP_VECTORS_BLESS=1 to accept): {}",
            p.command_line(),
            first_difference(&shipped, &now)
        );
        assert_eq!(
            r.document["generator"]["command"],
            p.command_line(),
            "{name}"
        );
    }
}

async fn replays_everywhere(name: &str, doc: &Value) {
    let events = doc["events"].as_array().unwrap();
    let count = |i: &str| events.iter().filter(|e| e["interface"] == i).count();
    let s = replay::server(doc).await.unwrap();
    assert!(s.ok(), "{name}, SM-DP+ side:\n{}", s.diffs.join("\n"));
    assert_eq!(s.compared, count("es9"), "{name}");
    assert_eq!(s.compared, 4, "{name}: four ES9+ functions");
    let e = replay::euicc(doc).unwrap();
    assert!(e.ok(), "{name}, eUICC side:\n{}", e.diffs.join("\n"));
    assert_eq!(e.compared, count("es10"), "{name}");
    let (n, diffs) = negative::check(doc).await.unwrap();
    assert!(diffs.is_empty(), "{name}:\n{}", diffs.join("\n"));
    assert_eq!(n, doc["negativeVectors"].as_array().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_sessions_replay_on_both_sides_with_their_negative_vectors() {
    for (name, _) in shipped() {
        replays_everywhere(name, &load(name)).await;
    }
}

/// The replay compares, and a difference shows: a changed response byte on either side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_byte_shows_as_a_diff() {
    let doc = load("nist-minimal.json");
    let mut d = doc.clone();
    let ev = d["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["function"] == "authenticateClient")
        .unwrap();
    let text = ev["response"]["body"]["text"].as_str().unwrap().replacen(
        "\"transactionId\"",
        "\"transactionID\"",
        1,
    );
    ev["response"]["body"]["text"] = Value::String(text);
    let s = replay::server(&d).await.unwrap();
    assert_eq!(s.diffs.len(), 1, "{:?}", s.diffs);
    assert!(s.diffs[0].contains("authenticateClient"), "{}", s.diffs[0]);

    let mut d = doc.clone();
    let ev = d["events"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["function"] == "GetEuiccChallenge")
        .unwrap();
    let r = ev["apdus"][0]["r"].as_str().unwrap().to_string();
    let flipped = format!("{}{}", if r.starts_with('0') { "1" } else { "0" }, &r[1..]);
    ev["apdus"][0]["r"] = Value::String(flipped);
    let e = replay::euicc(&d).unwrap();
    assert_eq!(e.diffs.len(), 1, "{:?}", e.diffs);
    assert!(e.diffs[0].contains("GetEuiccChallenge"), "{}", e.diffs[0]);

    // A vector whose recorded answer is not the current one is reported.
    let mut d = doc;
    d["negativeVectors"][0]["answer"]["reasonCode"] = Value::String("1.1".into());
    let (_, diffs) = negative::check(&d).await.unwrap();
    assert_eq!(diffs.len(), 1, "{diffs:?}");
}

/// Every step has its mutations, and each answer is SGP.22's (the recorder refuses a session
/// where it is not; the file says both).
#[test]
fn every_step_has_its_negative_vectors() {
    let base = [
        "ia-smdp-address",
        "ac-transaction-id",
        "ac-euicc-signature1",
        "ac-server-challenge",
        "ac-other-eid",
        "gbpp-transaction-id",
        "gbpp-euicc-signature2",
        "as-server-signature1",
        "as-euicc-challenge",
        "pd-smdp-signature2",
        "pd-transaction-id",
        "bpp-smdp-sign",
        "bpp-transaction-id",
        "bpp-a0-mac",
        "bpp-a1-mac",
        "bpp-a3-mac",
        "bpp-a3-truncated",
    ];
    for (name, p) in shipped() {
        let doc = load(name);
        let ids: Vec<&str> = doc["negativeVectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap())
            .collect();
        for id in base {
            assert!(ids.contains(&id), "{name} lacks {id}");
        }
        assert_eq!(
            ids.contains(&"gbpp-hash-cc"),
            p.confirmation_code.is_some(),
            "{name}"
        );
        assert_eq!(ids.contains(&"bpp-a2-mac"), p.ppk, "{name}");
        for v in doc["negativeVectors"].as_array().unwrap() {
            assert_eq!(v["answer"], v["expected"], "{name} {}", v["id"]);
        }
    }
    let big = load("nist-minimal-4k.json");
    let ids: Vec<&Value> = big["negativeVectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["id"])
        .collect();
    assert!(ids.contains(&&Value::from("bpp-a3-reordered")));
    // The SGP.22 codes, spelled out for a few (digest §1.5, §2; RSPDefinitions).
    let v = |id: &str| {
        big["negativeVectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .unwrap()["expected"]
            .clone()
    };
    assert_eq!(v("ac-other-eid")["subjectCode"], "8.1.1");
    assert_eq!(v("ac-other-eid")["reasonCode"], "3.8");
    assert_eq!(v("gbpp-transaction-id")["subjectCode"], "8.10.1");
    assert_eq!(v("as-euicc-challenge")["errorCode"], 6);
    assert_eq!(
        v("bpp-a3-reordered")["errorReasonName"],
        "scp03tSecurityError"
    );
}

fn named<'a>(doc: &'a Value, list: &str, name: &str) -> &'a Value {
    doc[list]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// The file's values, re-derived from the file alone: the signatures and the ECDH with
/// aws-lc (the recorder used RustCrypto), the KDF and hashCc with SHA-256 as digest §5.1 and
/// §4.3 write them.
#[test]
fn the_values_check_out_from_the_file_alone() {
    for (name, p) in shipped() {
        let doc = load(name);
        let val = |n: &str| h(&named(&doc, "values", n)["hex"]);
        let cert = |n: &str| {
            rsp_auth::cert::Cert::from_der(&h(&named(&doc, "certificates", n)["der"])).unwrap()
        };
        for s in doc["signatures"].as_array().unwrap() {
            let c = cert(s["certificate"].as_str().unwrap());
            c.public_key()
                .verify_raw(&h(&s["signedData"]), &h(&s["signature"]), Backend::AwsLc)
                .unwrap_or_else(|e| panic!("{name} {}: {e}", s["name"]));
        }
        let otsk: [u8; 32] = val("otSK.DP.ECKA").try_into().unwrap();
        let dp = rsp_auth::ecdh::EphemeralKey::from_scalar(p.curve, otsk).unwrap();
        assert_eq!(dp.public_point()[..], val("otPK.DP.ECKA")[..], "{name}");
        let shs = dp
            .shared_secret(&val("otPK.EUICC.ECKA"), Backend::AwsLc)
            .unwrap();
        assert_eq!(shs[..], val("ShS")[..], "{name}");
        // X9.63 KDF with SHA-256 (digest §5.1).
        let si = val("SharedInfo");
        let host = val("hostId");
        assert_eq!(
            si,
            [
                &[0x88, 0x10, host.len() as u8][..],
                &host,
                &[0x10],
                &val("EID")
            ]
            .concat()
        );
        let k: Vec<u8> = (1u32..=2)
            .flat_map(|i| Sha256::digest([&shs[..], &i.to_be_bytes(), &si].concat()).to_vec())
            .collect();
        assert_eq!(val("initialMCV"), k[..16], "{name}");
        assert_eq!(val("S-ENC"), k[16..32], "{name}");
        assert_eq!(val("S-MAC"), k[32..48], "{name}");
        if let Some(cc) = &p.confirmation_code {
            let want = Sha256::digest(
                [&Sha256::digest(cc.as_bytes())[..], &val("transactionId")].concat(),
            );
            assert_eq!(val("hashCc"), want[..], "{name}");
        }
        // The segments, reassembled, are the profile after personalisation.
        let segs: Vec<u8> = doc["boundProfilePackage"]["segments"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["part"].as_str().unwrap().starts_with("A3"))
            .flat_map(|s| h(&s["plaintext"]))
            .collect();
        assert_eq!(
            segs,
            h(&doc["profilePackage"]["afterPersonalisation"]),
            "{name}"
        );
        assert_eq!(
            doc["result"]["notification"],
            doc["result"]["profileInstallationResult"]
        );
    }
}

/// Our PKI in the files is `certs/`: the recorder makes it from seed 1 without a checkout.
#[test]
fn the_certificates_are_those_of_certs() {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs");
    for (name, p) in shipped() {
        let doc = load(name);
        let t = p.curve.file_tag();
        for (cert, file) in [
            (
                "CERT.CI.ECDSA",
                format!("CertificateIssuer/CERT_CI_ECDSA_{t}.der"),
            ),
            ("CERT.EUM.ECDSA", format!("EUM/CERT_EUM_ECDSA_{t}.der")),
            (
                "CERT.EUICC.ECDSA",
                format!("eUICC/CERT_EUICC_ECDSA_{t}.der"),
            ),
        ] {
            assert_eq!(
                h(&named(&doc, "certificates", cert)["der"]),
                std::fs::read(certs.join(&file)).unwrap(),
                "{name}: {cert} is not certs/{file}"
            );
        }
    }
}

/// The JSON Schema beside the files accepts every one, and refuses a broken one (Python
/// jsonschema, from requirements-test.txt).
#[test]
fn the_schema_accepts_every_shipped_file() {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let have = Command::new(&python)
        .args(["-c", "import jsonschema"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var("RSP_REQUIRE_SHARED").as_deref() != Ok("1"),
            "Python package jsonschema missing: pip install -r requirements-test.txt"
        );
        eprintln!("NOTICE: Python package jsonschema not installed; skipping");
        return;
    }
    const CHECK: &str = r#"
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
v = jsonschema.Draft202012Validator(schema)
bad = 0
for f in sys.argv[2:]:
    doc = json.load(open(f))
    errors = list(v.iter_errors(doc))
    for e in errors[:5]:
        print(f, list(e.absolute_path), e.message[:200])
    bad += bool(errors)
    broken = dict(doc)
    del broken["events"]
    if v.is_valid(broken):
        print(f, "still valid without its events"); bad += 1
sys.exit(1 if bad else 0)
"#;
    let dir = sessions_dir();
    let out = Command::new(&python)
        .arg("-c")
        .arg(CHECK)
        .arg(dir.join("session.schema.json"))
        .args(shipped().iter().map(|(n, _)| dir.join(n)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The SGP.26 sessions (both curves) and a TS.48 one are third-party data: recorded here, from
/// the shared folder, and checked like the shipped ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sgp26_and_ts48_sessions_at_test_time() {
    let Some(shared) = rsp_shared::dir_for_test("SGP.26 PKI and TS.48 profiles") else {
        return;
    };
    let sessions = [
        Params {
            seed: 11,
            pki: PkiChoice::Sgp26,
            ..Params::default()
        },
        Params {
            seed: 12,
            pki: PkiChoice::Sgp26,
            curve: Curve::BrainpoolP256r1,
            confirmation_code: Some("1234".into()),
            ..Params::default()
        },
        Params {
            seed: 13,
            pki: PkiChoice::Sgp26,
            ppk: true,
            profile: "ts48".parse().unwrap(),
            ..Params::default()
        },
    ];
    for p in sessions {
        let name = p.command_line();
        let a = session::record(&p).await.unwrap().document;
        let b = session::record(&p).await.unwrap().document;
        assert!(a == b, "{name}: two recordings differ");
        let t = p.curve.file_tag();
        assert_eq!(
            h(&named(&a, "certificates", "CERT.CI.ECDSA")["der"]),
            std::fs::read(
                shared.join(format!("pki/sgp26/CertificateIssuer/CERT_CI_ECDSA_{t}.der"))
            )
            .unwrap(),
            "{name}"
        );
        assert_eq!(
            a["order"]["smdpAddress"], "testsmdpplus1.example.com",
            "{name}"
        );
        replays_everywhere(&name, &a).await;
    }
}
