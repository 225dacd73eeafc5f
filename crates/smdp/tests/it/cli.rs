//! The `smdp` tool as a user runs it.

use std::process::{Command, Output};

pub fn smdp(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smdp"));
    cmd.args(args).env("RUST_BACKTRACE", "0");
    cmd.stdin(std::process::Stdio::piped());
    cmd.stdout(std::process::Stdio::piped());
    cmd.stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The command succeeded and printed each of `wants`.
fn succeeded_with(o: &Output, wants: &[&str]) {
    let out = stdout(o);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for want in wants {
        assert!(out.contains(want), "no {want:?} in\n{out}");
    }
}

#[test]
fn decode_hex_base64_and_stdin() {
    let o = smdp(&["decode", "BF2400"], None);
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("ConfigureISDPRequest"));
    // Base64 of BF41 03 81 01 05 (cancelSessionResponseError invalidTransactionId).
    let o = smdp(&["decode", "v0EDgQEF"], None);
    let out = stdout(&o);
    assert!(
        out.starts_with("CancelSessionResponse CancelSessionResponseError("),
        "{out}"
    );
    assert!(out.contains("invalidTransactionId(5)"), "{out}");
    let o = smdp(&["decode"], Some("bf 24 00\n"));
    assert!(stdout(&o).starts_with("ConfigureISDPRequest"));
}

#[test]
fn decode_an_es9_json_body_field_by_field() {
    let body = r#"{"transactionId":"0A","cancelSessionResponse":"v0EDgQEF"}"#;
    let o = smdp(&["decode", body], None);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("transactionId: 0A"), "{out}");
    assert!(
        out.contains("cancelSessionResponse: CancelSessionResponse"),
        "{out}"
    );
}

#[test]
fn decode_reports_bad_input() {
    for bad in ["BF24", "BF7F00", "!!!", "{not json"] {
        let o = smdp(&["decode", bad], None);
        assert!(!o.status.success(), "{bad} accepted");
        assert!(!o.stderr.is_empty());
    }
    let o = smdp(&["decode", "--type", "EUICCInfo1", "BF2400"], None);
    assert!(!o.status.success());
}

#[test]
fn activation_codes_and_eids() {
    let o = smdp(
        &["ac", "LPA:1$SMDP.GSMA.COM$04386-AGYFT-A74Y8-3F815$$1"],
        None,
    );
    assert!(o.status.success());
    assert!(stdout(&o).contains("conf. code:    required"));
    assert!(!smdp(&["ac", "2$x$y"], None).status.success());

    let o = smdp(&["eid", "890490321234512345123456789012"], None);
    assert_eq!(stdout(&o).trim(), "89049032123451234512345678901235");
    assert!(smdp(&["eid", "89049032123451234512345678901235"], None)
        .status
        .success());
    let o = smdp(&["eid", "89049032123451234512345678901234"], None);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("expected 89049032123451234512345678901235")
    );
}

#[test]
fn pki_generate_check_and_issue_tls() {
    let dir = std::env::temp_dir().join(format!("smdp-cli-pki-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let o = smdp(
        &[
            "pki",
            "generate",
            "--out",
            d,
            "--curve",
            "nist",
            "--host",
            "smdp.test",
            "--seed",
            "9",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout(&o).contains("DpTls CN=smdp.test"));
    let o = smdp(&["pki", "check", "--pki", d], None);
    assert!(o.status.success());
    assert!(stdout(&o).contains("eUICC EID 89001012"));
    let tls = dir.join("tls");
    let o = smdp(
        &[
            "pki",
            "issue-tls",
            "--pki",
            d,
            "--host",
            "other.test",
            "--out",
            tls.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tls.join("DPtls/CERT_S_SM_DP_TLS_NIST.der").is_file());
    // No BRP CI in this PKI: a clear error, not a panic.
    let o = smdp(
        &[
            "pki",
            "issue-tls",
            "--pki",
            d,
            "--curve",
            "brp",
            "--host",
            "x",
            "--out",
            tls.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no brainpoolP256r1 CI"));
    let o = smdp(&["pki", "check", "--pki", "/nonexistent"], None);
    assert!(!o.status.success());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn profile_inspect() {
    let Some(dir) = rsp_shared::dir_for_test("TS.48 profile") else {
        return;
    };
    let f = dir.join("profiles/ts48/ts48-v7-SAIP2.3_NoBERTLV.der");
    let o = smdp(&["profile", "inspect", f.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(
        out.contains("#10  akaParameter") && out.contains("valid: 30 elements"),
        "{out}"
    );
    let bad = std::env::temp_dir().join(format!("smdp-bad-{}.der", std::process::id()));
    std::fs::write(&bad, &std::fs::read(&f).unwrap()[..5000]).unwrap();
    let o = smdp(&["profile", "inspect", bad.to_str().unwrap()], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("profile element #"));
    let _ = std::fs::remove_file(bad);
}

#[test]
fn profile_generate_personalises_and_inspect_shows_the_values() {
    let out = std::env::temp_dir().join(format!("smdp-gen-{}.der", std::process::id()));
    let path = out.to_str().unwrap();
    let o = smdp(
        &[
            "profile",
            "generate",
            "--template",
            "minimal:20k",
            "--iccid",
            "8988247000001234567",
            "--imsi",
            "310410987654321",
            "--ki",
            "0123456789ABCDEF0123456789ABCDEF",
            "--spn",
            "Op",
            "--out",
            path,
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 20 * 1024);
    let o = smdp(&["profile", "inspect", path], None);
    let text = stdout(&o);
    assert!(
        text.contains("EF.ICCID 89882470000012345670, IMSI 310410987654321, SPN \"Op\"")
            && text.contains("Ki 0123456789ABCDEF0123456789ABCDEF")
            && text.contains("valid: "),
        "{text}"
    );
    // Bad values: a clear error, no file written.
    let _ = std::fs::remove_file(&out);
    for bad in [
        &["--ki", "0123"][..],
        &["--iccid", "89882470000012345671"],
        &["--template", "ts48:nope"],
        &["--template", "minimal:10"],
    ] {
        let mut args = vec!["profile", "generate", "--out", path];
        args.extend_from_slice(bad);
        let o = smdp(&args, None);
        assert!(!o.status.success(), "{bad:?}");
        assert!(!String::from_utf8_lossy(&o.stderr).is_empty());
        assert!(!out.exists(), "{bad:?} wrote a file");
    }
}

/// `profile add` with SGP.22 order options: a held order, a matching ID outside the
/// activation-code alphabet (noted), metadata; `profile release` releases it once; bad option
/// values are refused and store nothing.
#[test]
fn profile_add_options_and_release() {
    let dir = std::env::temp_dir().join(format!("smdp-cli-release-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.to_str().unwrap();
    let icon = dir.with_extension("png");
    std::fs::write(&icon, b"\x89PNG\r\n\x1a\n0000").unwrap();
    let o = smdp(
        &[
            "profile",
            "add",
            "--data",
            data,
            "--matching-id",
            "AC_WITH_CC",
            "--unreleased",
            "--ppr",
            "ppr1,ppr2",
            "--profile-class",
            "test",
            "--icon",
            icon.to_str().unwrap(),
            "--owner",
            "26201",
            "--min-euicc-svn",
            "2.2.0",
            "--require-device-capability",
            "nr-5gc>=15",
            "--notify",
            "enable,delete",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("LPA:1$localhost:8443$AC_WITH_CC"), "{out}");
    assert!(out.contains("held (8.2/1.2)"), "{out}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("outside the SGP.22 4.1"));
    let list = stdout(&smdp(&["profile", "list", "--data", data], None));
    assert!(list.contains("reserving"), "{list}");
    let o = smdp(&["profile", "release", "AC_WITH_CC", "--data", data], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list = stdout(&smdp(&["profile", "list", "--data", data], None));
    assert!(list.contains("available"), "{list}");
    let o = smdp(&["profile", "release", "AC_WITH_CC", "--data", data], None);
    assert!(!o.status.success(), "released once");
    for bad in [
        &["--matching-id", "A$B"][..],
        &["--matching-id", "X1", "--ppr", "ppr7"],
        &["--matching-id", "X2", "--profile-class", "gold"],
        &["--matching-id", "X3", "--require-device-capability", "wifi"],
        &[
            "--matching-id",
            "X4",
            "--require-uicc-capability",
            "teleport",
        ],
        &[
            "--matching-id",
            "X5",
            "--confirmation-code",
            "12z",
            "--confirmation-code-encoding",
            "hex",
        ],
        &["--matching-id", "AC_WITH_CC"],
    ] {
        let args: Vec<&str> = ["profile", "add", "--data", data]
            .iter()
            .chain(bad)
            .copied()
            .collect();
        let o = smdp(&args, None);
        assert!(!o.status.success(), "{bad:?} accepted");
    }
    let list = stdout(&smdp(&["profile", "list", "--data", data], None));
    assert_eq!(
        list.lines().count(),
        1,
        "refused orders store nothing: {list}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&icon);
}

/// `smdp profile import`: a batch for an account; every bad row reported and nothing stored;
/// the same file twice imports once.
#[test]
fn profile_import_is_all_or_nothing_and_idempotent_and_exports_its_keys() {
    let dir = std::env::temp_dir().join(format!("smdp-cli-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.to_str().unwrap();
    let o = smdp(&["account", "create", "--data", data], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let account = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("account_sid:").map(|s| s.trim().to_string()))
        .unwrap();
    let key = "000102030405060708090A0B0C0D0E0F";
    let iccid = |n: u32| {
        let p = format!("890010100000002{n:04}");
        format!("{p}{}", rsp_asn1::ids::luhn_check_digit(&p))
    };
    let good = dir.with_extension("good.csv");
    std::fs::write(
        &good,
        format!(
            "eid,iccid,imsi,ki,opc\n89049032123451234512345678901235,{},001010000000201,{key},{key}\n",
            iccid(1)
        ),
    )
    .unwrap();
    let bad = dir.with_extension("bad.csv");
    std::fs::write(
        &bad,
        format!(
            "eid,iccid,imsi,ki,opc\n89049032123451234512345678901235,{},001010000000202,{key},{key}\n\
             89049032123451234512345678901234,{},001010000000203,{key},00\n",
            iccid(2),
            iccid(3)
        ),
    )
    .unwrap();
    let import = |f: &std::path::Path| {
        smdp(
            &[
                "profile",
                "import",
                "--account",
                &account,
                "--data",
                data,
                f.to_str().unwrap(),
            ],
            None,
        )
    };
    let o = import(&bad);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("row 2:") && err.contains("nothing imported"),
        "{err}"
    );
    let o = import(&good);
    assert!(
        stdout(&o).contains("imported 1 pre-installed profiles, 0 already there"),
        "{}",
        stdout(&o)
    );
    let o = import(&good);
    assert!(stdout(&o).contains("imported 0 pre-installed profiles, 1 already there"));
    let list = stdout(&smdp(&["profile", "list", "--data", data], None));
    assert_eq!(list.matches("installed").count(), 1, "{list}");
    let o = smdp(
        &[
            "profile",
            "import",
            "--account",
            "ACnobody",
            "--data",
            data,
            good.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success());

    // The pre-installed row's keys reach the subscriber export, in each format.
    let export = |extra: &[&str]| {
        let mut args = vec!["profile", "export", "--account", &account, "--data", data];
        args.extend_from_slice(extra);
        smdp(&args, None)
    };
    let csv = stdout(&export(&[]));
    assert_eq!(
        csv,
        format!(
            "esim_profile_sid,sim_sid,status,eid,iccid,imsi,ki,opc,op,amf\n\
             {},{},installed,89049032123451234512345678901235,{},001010000000201,{key},{key},,8000\n",
            csv.lines().nth(1).unwrap().split(',').next().unwrap(),
            csv.lines().nth(1).unwrap().split(',').nth(1).unwrap(),
            iccid(1)
        )
    );
    let dbctl = stdout(&export(&["--format", "open5gs-dbctl"]));
    assert_eq!(
        dbctl,
        format!("open5gs-dbctl add 001010000000201 {key} {key}\n")
    );
    let doc: serde_json::Value =
        serde_json::from_str(stdout(&export(&["--format", "open5gs"])).trim()).unwrap();
    assert_eq!(doc["imsi"], "001010000000201");
    assert_eq!(doc["security"]["k"], key);
    assert_eq!(doc["security"]["opc"], key);
    assert_eq!(doc["security"]["amf"], "8000");
    assert!(stdout(&export(&["--status", "available"])).lines().count() == 1);
    assert!(!export(&["--status", "failed"]).status.success());
    assert!(!export(&["--format", "xml"]).status.success());
    // MILENAGE settings: the OP is never printed; a bad value changes nothing.
    let milenage = |extra: &[&str]| {
        let mut args = vec!["account", "milenage", &account, "--data", data];
        args.extend_from_slice(extra);
        smdp(&args, None)
    };
    let o = milenage(&["--op", "cdc202d5123e20f62b6d676ac72cb318", "--amf", "b9b9"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        !stdout(&o).to_lowercase().contains("cdc202d5"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("AMF: B9B9"));
    assert!(!milenage(&["--amf", "80"]).status.success());
    assert!(!milenage(&["--op", "00"]).status.success());
    let o = milenage(&[]);
    assert!(stdout(&o).contains("OP:  set") && stdout(&o).contains("AMF: B9B9"));
    // This card's OPc was not derived from that OP: the export says so by giving no OP.
    let csv = stdout(&export(&[]));
    assert!(
        csv.trim_end().ends_with(&format!("{key},{key},,B9B9")),
        "{csv}"
    );
    let out = dir.with_extension("subscribers.json");
    let o = export(&["--format", "json", "--out", out.to_str().unwrap()]);
    assert!(o.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "secrets are written owner-only");
    }
    let rows: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(rows[0]["ki"], key);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&good);
    let _ = std::fs::remove_file(&bad);
    let _ = std::fs::remove_file(&out);
}

#[test]
fn profile_add_count_makes_many_orders_by_matching_id() {
    let dir = std::env::temp_dir().join(format!("smdp-cli-count-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.to_str().unwrap();
    let o = smdp(
        &[
            "profile",
            "add",
            "--data",
            data,
            "--count",
            "3",
            "--matching-id-prefix",
            "BATCH-",
            "--template",
            "minimal:4k",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with("HP"), "{l}");
        assert!(l.ends_with(&format!("$BATCH-{}", i + 1)), "{l}");
    }
    // BATCH-4 is free but BATCH-1…3 are taken: nothing is made.
    let o = smdp(
        &[
            "profile",
            "add",
            "--data",
            data,
            "--count",
            "4",
            "--matching-id-prefix",
            "BATCH-",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("BATCH-1 is taken"));
    // --count needs matching IDs to make.
    let o = smdp(&["profile", "add", "--data", data, "--count", "2"], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--count"));
    let o = smdp(&["profile", "list", "--data", data], None);
    assert_eq!(stdout(&o).lines().count(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn store_migrate_check_and_copy_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("smdp-cli-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.to_str().unwrap();
    let err = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
    let o = smdp(&["store", "check", "--data", data], None);
    assert!(!o.status.success(), "checking does not create a store");
    assert!(err(&o).contains("no store there"), "{}", err(&o));
    assert!(!dir.exists());
    let o = smdp(
        &["store", "migrate", "--store", &format!("sqlite:{data}")],
        None,
    );
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(
        stdout(&o).trim(),
        format!(
            "sqlite:{data}: schema version {}",
            smdp_store_sqlite::SCHEMA_VERSION
        )
    );
    let o = smdp(
        &[
            "profile",
            "add",
            "--data",
            data,
            "--count",
            "2",
            "--generate-matching-id",
        ],
        None,
    );
    assert!(o.status.success(), "{}", err(&o));
    let o = smdp(&["store", "check", "--data", data], None);
    assert!(o.status.success(), "{}", err(&o));
    let out = stdout(&o);
    assert!(out.contains("orders available     2"), "{out}");
    assert!(out.contains("integrity:      ok"), "{out}");

    // A broken invariant is reported and fails the check.
    let store = smdp_store_sqlite::SqliteStore::open(&dir).unwrap();
    store
        .with(|c| {
            c.execute("DELETE FROM packages WHERE profile_id = 1", [])?;
            Ok(())
        })
        .unwrap();
    drop(store);
    let o = smdp(&["store", "check", "--data", data], None);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("problem:        1 reserved orders without a profile package"),
        "{}",
        stdout(&o)
    );

    // Copy goes SQLite → PostgreSQL only; anything else is refused with the reason.
    let o = smdp(
        &["store", "copy", "--from", data, "--to", "sqlite:/tmp/x"],
        None,
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("from an SQLite store"), "{}", err(&o));
    let o = smdp(
        &[
            "store",
            "copy",
            "--from",
            "sqlite:/nonexistent/smdp",
            "--to",
            "postgres://u@127.0.0.1:1/d",
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("no store there"), "{}", err(&o));

    // A store of a newer schema is refused and left as it is.
    let store = smdp_store_sqlite::SqliteStore::open(&dir).unwrap();
    store
        .with(|c| {
            c.pragma_update(None, "user_version", 99)?;
            Ok(())
        })
        .unwrap();
    drop(store);
    let o = smdp(&["store", "migrate", "--data", data], None);
    assert!(!o.status.success());
    assert!(err(&o).contains("store schema 99"), "{}", err(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19: `smdp verify-bpp` on a BPP our server issued, with the SM-DP+'s half of the
/// secrets (otSK.DP and otPK.EUICC, as the store keeps them until the install): every check
/// passes, smdpSign included; one byte changed in a profile segment is named, in SGP.22
/// terms, at that segment. The BPP then installs (it was the real one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_bpp_passes_an_issued_bpp_and_explains_a_tampered_one() {
    use crate::common::*;
    let server = TestServer::start(Options::default()).await;
    let order = server.reserve(by_matching_id("VERIFY-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), rsp_auth::Curve::NistP256);
    let init = lpa.initiate().await.unwrap();
    let auth = lpa.authenticate(&init, Some("VERIFY-1")).await.unwrap();
    let bpp = lpa.get_bpp(&auth, None).await.unwrap();
    let p = server.profile(&order);
    let dir = scratch_dir("smdp-verify-bpp");
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("bpp.json");
    std::fs::write(&json, serde_json::to_vec(&bpp).unwrap()).unwrap();
    let dp_pb = our_pki_dir().join("DPpb/CERT_S_SM_DPpb_ECDSA_NIST.der");
    let (eid, otsk, otpk, txid) = (
        lpa.eid(),
        hex::encode(p.bound_otsk.unwrap()),
        hex::encode(p.bound_otpk.unwrap()),
        hex::encode(init.transaction_id.as_bytes()),
    );
    let args = |file: &std::path::Path| -> Vec<String> {
        [
            "verify-bpp",
            "--bpp",
            file.to_str().unwrap(),
            "--eid",
            &eid,
            "--dp-otsk",
            &otsk,
            "--euicc-otpk",
            &otpk,
            "--dp-pb",
            dp_pb.to_str().unwrap(),
            "--transaction-id",
            &txid,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |a: &[String]| smdp(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);
    succeeded_with(
        &run(&args(&json)),
        &[
            "ok   BF23 5F37",
            "smdpSign verifies with PK.DPpb",
            "a SAIP package of",
            "the BPP passes every check",
        ],
    );
    let mut j = args(&json);
    j.push("--json".into());
    let v: serde_json::Value = serde_json::from_slice(&run(&j).stdout).unwrap();
    assert_eq!(v["passed"], true);
    assert_eq!(v["sessionKeys"]["sEnc"].as_str().unwrap().len(), 32);

    // One byte of the last profile segment changed, the BPP given as hex.
    let mut der = bpp.bound_profile_package.as_bytes().to_vec();
    let decoded: rsp_asn1::download::BoundProfilePackage = rsp_asn1::decode(&der).unwrap();
    let last = decoded.sequence_of86.len() - 1;
    let seg = &decoded.sequence_of86[last].0;
    let at = der.windows(16).position(|w| w == &seg[..16]).unwrap();
    der[at + 20] ^= 0x40;
    let hexfile = dir.join("bpp.hex");
    std::fs::write(&hexfile, hex::encode(&der)).unwrap();
    let o = run(&args(&hexfile));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let want = format!(
        "first failure at A3 86[{last}]: bppCommandId loadProfileElements(5), errorReason \
         scp03tSecurityError(8)"
    );
    assert!(out.contains(&want), "no {want:?} in\n{out}");
    // A missing secret is a usage error, not a check.
    let o = smdp(
        &["verify-bpp", "--bpp", json.to_str().unwrap(), "--eid", &eid],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("give one of"));

    lpa.install(&bpp).await;
    assert_eq!(
        server.profile(&order).status,
        smdp_core::store::ProfileStatus::Installed
    );
    server.stop().await;
}

/// Issue 19: `smdp decode` of a recorded session prints it as a trace, in order, each ES9+
/// field and ES10 TLV decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decode_prints_a_recorded_session_as_a_trace() {
    use crate::common::*;
    let server = TestServer::start(Options::default()).await;
    server.reserve(by_matching_id("TRACE-1"));
    let mut lpa = Lpa::new(&server, &our_pki_dir(), rsp_auth::Curve::NistP256);
    let recording = ::lpa::record::Recording::default();
    lpa.download_recorded(Some("TRACE-1"), None, |_| {}, Some(&recording))
        .await
        .unwrap();
    server.stop().await;
    let dir = scratch_dir("smdp-trace");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("session.json");
    let v = ::lpa::record::to_json(&recording.events());
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = smdp(&["decode", &format!("@{}", file.display())], None);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}");
    let order = [
        "ES10 GetEuiccChallenge",
        "ES9+ initiateAuthentication: POST /gsma/rsp2/es9plus/initiateAuthentication → HTTP 200",
        "serverSigned1: ServerSigned1",
        "ES10 AuthenticateServer",
        "command:  AuthenticateServerRequest",
        "ES9+ authenticateClient",
        "ES10 PrepareDownload",
        "ES9+ getBoundProfilePackage",
        "boundProfilePackage: BoundProfilePackage",
        "ES10 LoadBoundProfilePackage",
        "response: ProfileInstallationResult",
        "ES9+ handleNotification",
    ];
    let mut from = 0;
    for want in order {
        let at = out[from..]
            .find(want)
            .unwrap_or_else(|| panic!("no {want:?} after byte {from} in\n{out}"));
        from += at + want.len();
    }
    // Every event numbered, nothing undecoded.
    let events = v["events"].as_array().unwrap().len();
    assert!(out.contains(&format!("#{events} ")), "{out}");
    assert!(
        out.contains("the simulated eUICC's session secret: EID"),
        "{out}"
    );

    // The same file is all verify-bpp needs: the BPP, otSK.EUICC, the EID, CERT.DPpb.
    succeeded_with(
        &smdp(&["verify-bpp", "--session", file.to_str().unwrap()], None),
        &[
            "this session's transactionId",
            "smdpSign verifies with PK.DPpb",
            "the BPP passes every check",
        ],
    );
    // A session without the secret (a real card's) says so.
    let mut real = v.clone();
    real["events"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["interface"] != "euicc");
    std::fs::write(&file, serde_json::to_vec(&real).unwrap()).unwrap();
    let o = smdp(&["verify-bpp", "--session", file.to_str().unwrap()], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no eUICC secret"));
}

/// Issue 19: `smdp record` writes a session that `smdp replay` plays back on both sides with
/// its negative vectors, `smdp verify-bpp --session` checks and `smdp decode` traces; a
/// shipped session checks too; a tampered one fails the replay and says where.
#[test]
fn record_replay_verify_and_decode_a_session() {
    let dir = crate::common::scratch_dir("smdp-record");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("brp-ppk-cc.json");
    let f = file.to_str().unwrap();
    let o = smdp(
        &[
            "record",
            "--seed",
            "9",
            "--curve",
            "brp",
            "--ppk",
            "--confirmation-code",
            "0000",
            "--out",
            f,
        ],
        None,
    );
    succeeded_with(&o, &["events", "negative vectors"]);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        doc["generator"]["command"],
        "smdp record --seed 9 --pki ours --curve brp --confirmation-code 0000 --ppk --profile minimal"
    );
    succeeded_with(
        &smdp(&["replay", f], None),
        &[
            "SM-DP+: ES9+ exchanges: 4 replayed, all as recorded",
            "eUICC: ES10 commands:",
            "negative vectors: 19 replayed, all as recorded",
        ],
    );
    succeeded_with(
        &smdp(&["verify-bpp", "--session", f], None),
        &["A2", "the BPP passes every check"],
    );
    succeeded_with(
        &smdp(&["decode", &format!("@{f}")], None),
        &["getBoundProfilePackage"],
    );
    let shipped = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/sessions/nist-confirmation-code.json"
    );
    succeeded_with(
        &smdp(&["verify-bpp", "--session", shipped], None),
        &["the BPP passes every check"],
    );

    // One byte of a recorded response changed: the replay fails, naming the exchange.
    let mut bad = doc.clone();
    for e in bad["events"].as_array_mut().unwrap() {
        if e["function"] == "getBoundProfilePackage" {
            let t = e["response"]["body"]["text"]
                .as_str()
                .unwrap()
                .replacen("A", "B", 1);
            e["response"]["body"]["text"] = serde_json::Value::String(t);
        }
    }
    std::fs::write(&file, serde_json::to_vec(&bad).unwrap()).unwrap();
    let o = smdp(&["replay", "--side", "smdp", f], None);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("getBoundProfilePackage): response differs"),
        "{}",
        stdout(&o)
    );
    // Not a session, and bad options: clear errors.
    std::fs::write(&file, b"{}").unwrap();
    let o = smdp(&["replay", f], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a smdp-sim session/1 file"));
    let o = smdp(&["record", "--curve", "p384", "--out", f], None);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("nist or brp"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 20: an operator's ES2+ client certificate under the PKI folder's operator CA (which
/// `pki generate` makes, and `issue-operator` makes where there is none); a requester that is
/// not a DNS name is refused and nothing is written.
#[test]
fn pki_issue_operator() {
    let dir = crate::common::scratch_dir("smdp-cli-operator");
    let out = dir.join("out");
    let (d, o_dir) = (dir.to_str().unwrap(), out.to_str().unwrap());
    let o = smdp(
        &[
            "pki",
            "issue-operator",
            "--id",
            "test.operator.com",
            "--pki",
            d,
            "--out",
            o_dir,
            "--seed",
            "4",
        ],
        None,
    );
    succeeded_with(
        &o,
        &[
            "made an operator CA",
            "function requester test.operator.com",
        ],
    );
    let ca = rsp_auth::operator::load_ca(&dir)
        .unwrap()
        .expect("the CA is kept");
    let pem = std::fs::read_to_string(out.join("test.operator.com.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let cert =
        rsp_auth::cert::Cert::from_der(&rsp_asn1::es9::base64_decode(&b64).unwrap()).unwrap();
    assert_eq!(cert.authority_key_id, ca.cert.subject_key_id);
    assert_eq!(
        rsp_auth::operator::requester_of(&cert).as_deref(),
        Some("test.operator.com")
    );
    let key = std::fs::read_to_string(out.join("test.operator.com.key.pem")).unwrap();
    assert_eq!(
        rsp_auth::SigningKey::from_pem(&key).unwrap().public_key(),
        cert.public_key()
    );
    // A second one reuses the CA.
    let o = smdp(
        &[
            "pki",
            "issue-operator",
            "--id",
            "op2",
            "--pki",
            d,
            "--out",
            o_dir,
        ],
        None,
    );
    succeeded_with(&o, &["function requester op2"]);
    assert!(!stdout(&o).contains("made an operator CA"));
    let o = smdp(
        &[
            "pki",
            "issue-operator",
            "--id",
            "not a name",
            "--pki",
            d,
            "--out",
            o_dir,
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("a DNS name"));
    assert!(!out.join("not a name.pem").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// `smdp inventory` fills and counts the inventory in a data folder; `smdp es2` drives a
/// server on that folder as an operator (the README's walkthrough, minus the card).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_and_es2_from_the_shell() {
    use crate::common::*;
    let dir = scratch_dir("smdp-cli-es2");
    let data = dir.join("data");
    let d = data.to_str().unwrap().to_string();
    let store = std::sync::Arc::new(smdp_store_sqlite::SqliteStore::open(&data).unwrap());
    let server = TestServer::start_on(
        Options {
            es2: Some(es2_on_our_ca()),
            ..Options::default()
        },
        store,
    )
    .await;
    let acct = server.account("cli");
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            smdp(&args.iter().map(String::as_str).collect::<Vec<_>>(), None)
        })
    };
    let a = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let o = run(a(&[
        "inventory",
        "add",
        "--profile-type",
        "Cli",
        "--count",
        "2",
        "--data",
        &d,
    ]))
    .await
    .unwrap();
    succeeded_with(&o, &["  Cli"]);
    let iccids: Vec<String> = stdout(&o)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(iccids.len(), 2);
    let out = dir.join("op");
    let o = run(a(&[
        "pki",
        "issue-operator",
        "--id",
        "test.operator.com",
        "--pki",
        our_pki_dir().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]))
    .await
    .unwrap();
    assert!(o.status.success());
    let ca = our_pki_dir().join("CertificateIssuer/CERT_CI_ECDSA_NIST.der");
    let url = format!("https://localhost:{}", server.es2_addr.unwrap().port());
    let es2 = |f: &[&str]| {
        let mut v = a(&[
            "es2",
            "--url",
            &url,
            "--cert",
            out.join("test.operator.com.pem").to_str().unwrap(),
            "--ca",
            ca.to_str().unwrap(),
        ]);
        v.extend(a(f));
        run(v)
    };
    let o = es2(&["download-order", "--profile-type", "Cli"])
        .await
        .unwrap();
    succeeded_with(&o, &["downloadOrder: Executed-Success", &iccids[0]]);
    let o = es2(&[
        "--json",
        "confirm-order",
        "--iccid",
        &iccids[0],
        "--release",
        "false",
    ])
    .await
    .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["header"]["functionExecutionStatus"]["status"],
        "Executed-Success"
    );
    assert!(
        v["matchingId"].as_str().is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    let o = es2(&["release-profile", "--iccid", "89000000000000000000"])
        .await
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Failed 8.2.1/3.9"),
        "{o:?}"
    );
    let o = run(a(&["inventory", "list", "--json", "--data", &d]))
        .await
        .unwrap();
    let counts: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let count = |state: &str| {
        counts
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["profileType"] == "Cli" && c["state"] == state)
            .map(|c| c["count"].as_i64().unwrap())
    };
    assert_eq!(
        (count("Available"), count("Confirmed")),
        (Some(1), Some(1)),
        "{counts}"
    );
    let o = run(a(&[
        "inventory",
        "list",
        "--profile-type",
        "Cli",
        "--data",
        &d,
    ]))
    .await
    .unwrap();
    succeeded_with(&o, &["Confirmed", "requester test.operator.com"]);
    // The REST view of the same order: reserving until released.
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    let sid = server
        .store
        .profile_by_iccid(&iccids[0])
        .unwrap()
        .unwrap()
        .sid;
    assert_eq!(
        rest.get(&format!("/v1/ESimProfiles/{sid}")).await.1["status"],
        "reserving"
    );
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `smdp inventory import`: the pre-installed file format without EIDs, every row checked
/// before any is written, a re-run changing nothing, the batch's keys in the package.
#[test]
fn inventory_import_is_all_or_nothing_and_idempotent() {
    use rsp_asn1::ids::luhn_check_digit;
    use smdp_core::store::{OperatorStore as _, Store as _};
    let dir = crate::common::scratch_dir("smdp-cli-inventory-import");
    let data = dir.join("data");
    let d = data.to_str().unwrap();
    let store = smdp_store_sqlite::SqliteStore::open(&data).unwrap();
    store
        .create_account("AC1", "token", "inventory", 0)
        .unwrap();
    drop(store);
    let iccid = |n: u32| {
        let p = format!("890010100000077{n:04}");
        format!("{p}{}", luhn_check_digit(&p))
    };
    let key = "000102030405060708090A0B0C0D0E0F";
    let opc = "F0E0D0C0B0A090807060504030201000";
    let file = dir.join("batch.csv");
    let write =
        |rows: &str| std::fs::write(&file, format!("eid,iccid,imsi,ki,opc,spn\n{rows}")).unwrap();
    let f = file.to_str().unwrap();
    let import = || {
        smdp(
            &[
                "inventory",
                "import",
                "--profile-type",
                "Batch",
                f,
                "--data",
                d,
            ],
            None,
        )
    };
    // A bad row (an EID, a short IMSI) imports nothing, and names each.
    write(&format!(
        ",{},001010000000001,{key},{opc},Op\n89049032123451234512345678901235,{},001010000000002,{key},{opc},\n,{},123,{key},{opc},\n",
        iccid(1),
        iccid(2),
        iccid(3)
    ));
    let o = import();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("row 2: EID") && err.contains("row 3: IMSI"),
        "{err}"
    );
    let store = smdp_store_sqlite::SqliteStore::open(&data).unwrap();
    assert!(
        store.inventory_counts(None).unwrap().is_empty(),
        "nothing imported"
    );
    drop(store);
    write(&format!(
        ",{},001010000000001,{key},{opc},Op\n,{},001010000000002,{key},{opc},\n",
        iccid(1),
        iccid(2)
    ));
    succeeded_with(&import(), &[&iccid(1), &iccid(2)]);
    let o = import();
    assert!(o.status.success() && stdout(&o).is_empty(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("2 row(s) already"));
    let store = smdp_store_sqlite::SqliteStore::open(&data).unwrap();
    let counts = store.inventory_counts(None).unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(
        (counts[0].profile_type.as_str(), counts[0].count),
        ("Batch", 2)
    );
    let p = store.profile_by_iccid(&iccid(1)).unwrap().unwrap();
    assert!(p.in_inventory() && p.account_sid == "AC1");
    let pkg = rsp_saip::ProfilePackage::parse(&store.package(p.id).unwrap().unwrap()).unwrap();
    let v = pkg.values();
    assert_eq!(v.imsi.as_deref(), Some("001010000000001"));
    assert_eq!(v.spn.as_deref(), Some("Op"));
    let k: [u8; 16] = hex::decode(key).unwrap().try_into().unwrap();
    let o: [u8; 16] = hex::decode(opc).unwrap().try_into().unwrap();
    assert_eq!(v.aka, vec![(k, o)]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `smdp decode … | head`: the reader closing the pipe ends the command quietly.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let session = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/sessions")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json") && !p.ends_with("session.schema.json"))
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_smdp"))
        .args(["decode", &format!("@{}", session.display())])
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line (the command reads and parses the file
    // first): every line it prints meets a closed pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}
