//! The `lpa` command as a harness runs it: against an SM-DP+ started in this process (TLS on
//! loopback, our PKI), with the card in a veuicc state file that each run loads and saves,
//! and a card behind the veuicc TCP front-end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use rsp_auth::{Backend, Curve};
use serde_json::Value;
use smdp_core::store::ProfileStatus;
use veuicc::state::StateFile;
use veuicc::Euicc;

fn certs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs")
}

fn ci(curve: &str) -> String {
    certs()
        .join(format!("CertificateIssuer/CERT_CI_ECDSA_{curve}.der"))
        .to_string_lossy()
        .into_owned()
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lpa-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `lpa` with `args`: exit success, stdout, stderr.
async fn lpa(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || {
        let o = Command::new(env!("CARGO_BIN_EXE_lpa"))
            .args(&args)
            .env_remove("https_proxy")
            .env_remove("HTTPS_PROXY")
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lpa_command_downloads_notifies_and_manages_profiles() {
    let dir = tempdir("cli");
    let cfg = smdp_server::serve::Config::from_settings(smdp_server::serve::Settings {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        rest_listen: Some("127.0.0.1:0".parse().unwrap()),
        data: Some(dir.join("data")),
        pki: Some(certs()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    let running = smdp_server::serve::start(&cfg, smdp_core::clock::Clock::System)
        .await
        .unwrap();
    let address = running.smdp.address.clone();
    let store = running.smdp.store.clone();
    let p = smdp_core::orders::reserve(
        store.as_ref(),
        &rsp_saip::NumberPlan::default(),
        None,
        &smdp_core::orders::OrderRequest {
            matching_id: Some("LPA-CLI-1".into()),
            ..Default::default()
        },
        &mut rsp_auth::rng::rng(Some(4)),
        smdp_core::clock::Clock::System.unix(),
    )
    .unwrap();
    let pki = rsp_auth::pki::Pki::load(&certs()).unwrap();
    let card = Euicc::from_pki(&pki, Curve::NistP256, Backend::AwsLc, SystemTime::now()).unwrap();
    let state = dir.join("card.json");
    StateFile::create(&state, &card).unwrap();
    let base = |cmd: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec![
            "--state".into(),
            state.to_string_lossy().into(),
            "--ca".into(),
            ci("NIST"),
            "--json".into(),
        ];
        v.extend(cmd.iter().map(|s| s.to_string()));
        v
    };

    let (ok, out, err) = lpa(base(&["info"])).await;
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out)[0]["eid"], card.eid().to_string());

    // A refused matching ID: the codes and their meaning, nothing installed.
    let (ok, out, _) = lpa(base(&["download", &format!("LPA:1${address}$NOPE")])).await;
    assert!(!ok);
    let e = &json_lines(&out)[0];
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("8.2.6/3.8 (matching ID"),
        "{e}"
    );

    // The real one, then its notification: the order reads installed.
    let ac = format!("LPA:1${address}$LPA-CLI-1");
    let rec = dir.join("session.json");
    let (ok, out, err) = lpa(base(&["download", &ac, "--record", rec.to_str().unwrap()])).await;
    assert!(ok, "{out}{err}");
    check_recording(&serde_json::from_slice(&std::fs::read(&rec).unwrap()).unwrap());
    let d = &json_lines(&out)[0];
    assert_eq!(d["iccid"].as_str(), p.iccid.as_deref());
    let iccid = d["iccid"].as_str().unwrap().to_string();
    let (_, out, _) = lpa(base(&["notifications"])).await;
    let pending = json_lines(&out);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["operation"], "install");
    let (ok, out, err) = lpa(base(&["notifications", "--process", "--remove"])).await;
    assert!(ok, "{out}{err}");
    assert_eq!(json_lines(&out)[0]["sent"], true);
    for _ in 0..100 {
        if store.profile(p.id).unwrap().unwrap().status == ProfileStatus::Installed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        store.profile(p.id).unwrap().unwrap().status,
        ProfileStatus::Installed
    );
    let (_, out, _) = lpa(base(&["notifications"])).await;
    assert!(out.trim().is_empty(), "removed: {out}");

    // Profile management, run by run on the state file; each notification reaches the server.
    let (_, out, _) = lpa(base(&["profiles"])).await;
    assert_eq!(json_lines(&out)[0]["state"], "disabled");
    for cmd in ["enable", "disable"] {
        let (ok, _, err) = lpa(base(&[cmd, &iccid])).await;
        assert!(ok, "{cmd}: {err}");
    }
    let (ok, out, _) = lpa(base(&["disable", &iccid])).await;
    assert!(!ok);
    assert!(out.contains("profileNotInDisabledState"), "{out}");
    let (ok, _, err) = lpa(base(&["delete", &iccid])).await;
    assert!(ok, "{err}");
    let (ok, out, err) = lpa(base(&["notifications", "--process", "--remove"])).await;
    assert!(ok, "{out}{err}");
    let ops: Vec<String> = json_lines(&out)
        .iter()
        .map(|v| v["operation"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ops, ["enable", "disable", "delete"]);
    let recorded: Vec<String> = store
        .notifications()
        .unwrap()
        .into_iter()
        .map(|n| n.operation)
        .collect();
    assert_eq!(recorded, ["enable", "disable", "delete"]);

    // The TLS certificate is verified: another CA refuses it, --insecure skips the check.
    let mut wrong = base(&["download", &ac]);
    wrong[3] = ci("BRP");
    let (ok, out, _) = lpa(wrong).await;
    assert!(!ok);
    assert!(out.contains("TLS"), "{out}");
    let mut insecure = base(&["download", &format!("LPA:1${address}$NOPE")]);
    insecure.splice(2..4, ["--insecure".to_string()]);
    let (_, out, _) = lpa(insecure).await;
    assert!(out.contains("8.2.6/3.8"), "reached the server: {out}");

    // A card behind the TCP front-end.
    let card2 = dir.join("card2.json");
    StateFile::create(&card2, &card).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut file, euicc) = StateFile::load(&card2, Backend::AwsLc, SystemTime::now()).unwrap();
        let mut c = veuicc::apdu::Card::new(euicc, rsp_auth::rng::rng(None));
        if let Ok((conn, _)) = listener.accept() {
            let reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let _ = veuicc_cli::driver::serve(&mut c, &mut file, reader, &conn, std::io::sink());
        }
    });
    let (ok, out, err) = lpa(vec!["--tcp".into(), tcp, "--json".into(), "info".into()]).await;
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out)[0]["eid"], card.eid().to_string());

    running.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `lpa load` as CI runs it: orders reserved through REST, then complete downloads (with the
/// PIR) from fresh virtual eUICCs, several at once; every session succeeds. Timing is not
/// asserted (benchmarks measure it), only that every figure is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lpa_load_runs_every_session_without_an_error() {
    let dir = tempdir("load");
    let account = "AC0123456789abcdef0123456789abcdef";
    let cfg = smdp_server::serve::Config::from_settings(smdp_server::serve::Settings {
        listen: Some("127.0.0.1:0".parse().unwrap()),
        rest_listen: Some("127.0.0.1:0".parse().unwrap()),
        data: Some(dir.join("data")),
        pki: Some(certs()),
        reservation_delay_ms: Some(0),
        accounts: vec![format!("{account}:load-token")],
        ..Default::default()
    })
    .unwrap();
    let running = smdp_server::serve::start(&cfg, smdp_core::clock::Clock::System)
        .await
        .unwrap();
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = [
            "--ca",
            &ci("NIST"),
            "--ca",
            &ci("BRP"),
            "--json",
            "load",
            "--smdp",
            &running.smdp.address,
            "--connect",
            &running.addr().to_string(),
            "--rest",
            &running.rest_addr().to_string(),
            "--account",
            account,
            "--token",
            "load-token",
            "--pki",
            &certs().to_string_lossy(),
            "--profile-size",
            "12k",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        lpa(args)
    };
    for (extra, sessions) in [
        (&["--sessions", "200", "--concurrency", "16"][..], 200),
        (
            &[
                "--sessions",
                "30",
                "--concurrency",
                "4",
                "--by-eid",
                "--curve",
                "brp",
            ][..],
            30,
        ),
        (
            &[
                "--sessions",
                "30",
                "--concurrency",
                "4",
                "--new-connection-per-call",
            ][..],
            30,
        ),
    ] {
        let (ok, out, err) = run(extra).await;
        assert!(ok, "{extra:?}: {out} {err}");
        let r: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(r["sessions"], sessions, "{r}");
        assert_eq!(r["ok"], sessions, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert_eq!(r["reservation"]["orders"], sessions, "{r}");
        let functions = r["function_latency"].as_object().unwrap();
        for f in [
            "initiateAuthentication",
            "authenticateClient",
            "getBoundProfilePackage",
            "handleNotification",
        ] {
            assert_eq!(functions[f]["count"], sessions, "{f}: {r}");
        }
        // The server is this process, found by its listening socket.
        assert_eq!(
            r["server_pids"],
            serde_json::json!([std::process::id()]),
            "{r}"
        );
        assert!(r["server_cpu"]["seconds"].as_f64().is_some(), "{r}");
        let connections = r["connections"].as_u64().unwrap();
        if extra.contains(&"--new-connection-per-call") {
            assert_eq!(connections, 4 * sessions, "{r}");
            // The server's tickets resume nearly every later connection's TLS session.
            let resumed = r["resumed_connections"].as_u64().unwrap();
            assert!(resumed * 10 >= connections * 9, "{r}");
        } else {
            assert!(connections <= 16, "kept alive: {r}");
        }
    }
    // Loopback only.
    let (ok, _, err) = lpa(vec![
        "--insecure".into(),
        "load".into(),
        "--connect".into(),
        "192.0.2.1:8443".into(),
    ])
    .await;
    assert!(!ok && err.contains("loopback"), "{err}");
    let installed = running
        .smdp
        .store
        .profiles()
        .unwrap()
        .iter()
        .filter(|p| p.status == ProfileStatus::Installed)
        .count();
    assert_eq!(installed, 260);
    running.shutdown(Duration::from_secs(2)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `lpa download --record`: the ES9+ exchanges in order with their headers and bodies, the
/// ES10 commands with the APDUs that carried them (which reassemble to the command and the
/// answer), and the two sides agree where the LPA relays one to the other.
fn check_recording(v: &Value) {
    use rsp_asn1::es9::base64_encode;
    let events = v["events"].as_array().unwrap();
    let on = |i: &str| -> Vec<&Value> { events.iter().filter(|e| e["interface"] == i).collect() };
    let (es9, es10) = (on("es9"), on("es10"));
    // In order: the card's challenge and info before the first call, the BPP after the last.
    let at = |f: &str| events.iter().position(|e| e["function"] == f).unwrap();
    assert!(at("GetEuiccChallenge") < at("initiateAuthentication"));
    assert!(at("initiateAuthentication") < at("AuthenticateServer"));
    assert!(at("getBoundProfilePackage") < at("LoadBoundProfilePackage"));
    // The virtual card's otSK.EUICC, taken as the BPP reached it.
    assert_eq!(at("sessionSecret") + 1, at("LoadBoundProfilePackage"));
    assert_eq!(
        events[at("sessionSecret")]["otskEuicc"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    let functions: Vec<&str> = es9
        .iter()
        .map(|e| e["function"].as_str().unwrap())
        .collect();
    assert_eq!(
        functions,
        [
            "initiateAuthentication",
            "authenticateClient",
            "getBoundProfilePackage"
        ]
    );
    for e in &es9 {
        let header = |side: &str, name: &str| {
            e[side]["headers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|h| h[0] == name)
                .map(|h| h[1].as_str().unwrap().to_string())
        };
        assert!(header("request", "x-admin-protocol")
            .unwrap()
            .starts_with("gsma/rsp/v2."));
        assert_eq!(
            header("request", "content-length").unwrap(),
            e["request"]["body"]["text"]
                .as_str()
                .unwrap()
                .len()
                .to_string()
        );
        assert_eq!(e["response"]["status"], 200);
        assert!(header("response", "content-type")
            .unwrap()
            .starts_with("application/json"));
        assert!(header("response", "x-admin-protocol").is_some());
        assert_eq!(
            e["response"]["body"]["json"]["header"]["functionExecutionStatus"]["status"],
            "Executed-Success"
        );
    }
    let of = |f: &'static str| es10.iter().copied().filter(move |c| c["function"] == f);
    for c in &es10 {
        let (mut command, mut answer) = (Vec::new(), Vec::new());
        for a in c["apdus"].as_array().unwrap() {
            let (capdu, rapdu) = (
                hex::decode(a["c"].as_str().unwrap()).unwrap(),
                hex::decode(a["r"].as_str().unwrap()).unwrap(),
            );
            if capdu[1] == 0xE2 {
                command.extend_from_slice(&capdu[5..]);
            }
            answer.extend_from_slice(&rapdu[..rapdu.len() - 2]);
        }
        assert_eq!(
            hex::encode(command),
            c["command"]["hex"].as_str().unwrap(),
            "{}",
            c["function"]
        );
        let want = c["response"]["hex"].as_str().unwrap_or("");
        assert_eq!(hex::encode(answer), want, "{}", c["function"]);
    }
    // What the card answered is what the LPA sent on, and the other way round.
    let relayed = |f: &'static str, side: &str| -> String {
        let c = of(f).next().unwrap_or_else(|| panic!("no {f}"));
        base64_encode(&hex::decode(c[side]["hex"].as_str().unwrap()).unwrap())
    };
    assert_eq!(
        es9[1]["request"]["body"]["json"]["authenticateServerResponse"],
        relayed("AuthenticateServer", "response")
    );
    assert_eq!(
        es9[2]["request"]["body"]["json"]["prepareDownloadResponse"],
        relayed("PrepareDownload", "response")
    );
    assert_eq!(
        of("AuthenticateServer").next().unwrap()["command"]["type"],
        "AuthenticateServerRequest"
    );
    // The BPP went to the card as lpac sends it (BF36 ‖ BF23, A0, A1 header, each 88, …), the
    // last command answered with the ProfileInstallationResult.
    let bpp: Vec<&Value> = of("LoadBoundProfilePackage").collect();
    assert!(bpp.len() >= 5, "{} BPP commands", bpp.len());
    assert!(bpp[0]["command"]["hex"]
        .as_str()
        .unwrap()
        .starts_with("bf36"));
    assert_eq!(
        bpp.last().unwrap()["response"]["type"],
        "ProfileInstallationResult"
    );
    assert!(v["order"]["transaction_id"].as_str().unwrap().len() == 32);
}
