//! The `veuicc` command as lpac's stdio driver and as a TCP server: the exact request lines
//! lpac writes (`../shared/interop/lpac.md` §2.2), the replies it expects, bad lines answered
//! with ecode -1, and the card's state surviving between runs.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn pki() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../certs")
}

fn veuicc() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veuicc"))
}

fn new_card(dir: &Path, extra: &[&str]) -> PathBuf {
    let state = dir.join("card.json");
    let o = veuicc()
        .args([
            "new",
            "--pki",
            pki().to_str().unwrap(),
            "--out",
            state.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    state
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("veuicc-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One request line as lpac writes it.
fn req(func: &str, param: Option<&str>) -> String {
    let p = param.map_or("null".to_string(), |p| format!("\"{p}\""));
    format!("{{\"type\":\"apdu\",\"payload\":{{\"func\":\"{func}\",\"param\":{p}}}}}")
}

/// A session through the real binary over pipes: every reply line, parsed, and stderr.
fn session(state: &Path, lines: &[String]) -> (Vec<Value>, String) {
    let mut child = veuicc()
        .args(["lpac-stdio", "--state", state.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let replies = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (replies, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn lpac_stdio_protocol_line_by_line() {
    let dir = tempdir("stdio");
    let state = new_card(
        &dir,
        &["--eid", "89001012000000000000000000123437", "--seed", "3"],
    );
    let eid = "89001012000000000000000000123437";
    let (r, err) = session(
        &state,
        &[
            req("connect", None),
            req("logic_channel_open", Some("a0000005591010ffffffff8900000100")),
            req("transmit", Some("81e2910006bf3e035c015a")),
            req("transmit", Some("81c0000015")),
            // SetDefaultDpAddress smdp.example:8443, lower-case as lpac writes it.
            req("transmit", Some("81e2910016bf3f138011736d64702e6578616d706c653a38343433")),
            req("transmit", Some("81c0000006")),
            req("transmit", Some("zz")),
            "not json".into(),
            "{\"payload\":{}}".into(),
            "{\"type\":\"progress\",\"payload\":{\"code\":0,\"message\":\"es10b_get_euicc_challenge\"}}".into(),
            "{\"type\":\"http\",\"payload\":{\"url\":\"https://x/y\",\"tx\":\"\",\"headers\":[]}}".into(),
            req("frobnicate", None),
            req("logic_channel_close", Some("01")),
            req("logic_channel_close", Some("01")),
            req("disconnect", None),
        ],
    );
    let payload = |i: usize| &r[i]["payload"];
    assert!(
        r.iter().all(|v| v["type"] == "apdu" || v["type"] == "http"),
        "{r:?}"
    );
    assert_eq!(payload(0)["ecode"], 0);
    assert_eq!(payload(1)["ecode"], 1, "channel 1");
    assert_eq!(payload(2)["data"], "6115");
    assert_eq!(payload(3)["data"], format!("BF3E125A10{eid}9000"));
    assert_eq!(payload(4)["data"], "6106");
    assert_eq!(payload(5)["data"], "BF3F038001009000");
    assert_eq!(payload(6)["ecode"], -1, "not hex");
    assert_eq!(payload(7)["ecode"], -1, "not JSON");
    assert_eq!(payload(8)["ecode"], -1, "no type");
    // progress: no reply; http: 500.
    assert_eq!(r[9]["type"], "http");
    assert_eq!(r[9]["payload"]["rcode"], 500);
    assert_eq!(payload(10)["ecode"], -1, "unknown func");
    assert_eq!(payload(11)["ecode"], 0);
    assert_eq!(payload(12)["ecode"], -1, "closed already");
    assert_eq!(payload(13)["ecode"], 0);
    assert_eq!(r.len(), 14);
    assert!(
        err.contains("es10b_get_euicc_challenge"),
        "lpac's own lines are shown: {err}"
    );

    // The next run sees what the last one wrote.
    let o = veuicc()
        .args(["show", "--state", state.to_str().unwrap()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(
        shown.contains("default SM-DP+: smdp.example:8443"),
        "{shown}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A corrupt state file is refused, not replaced by a fresh card.
    std::fs::write(&state, "{\"format\":\"something else\"}").unwrap();
    let o = veuicc()
        .args(["lpac-stdio", "--state", state.to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("state"));
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        "{\"format\":\"something else\"}"
    );
    // An existing card is not overwritten by `new`.
    let o = veuicc()
        .args([
            "new",
            "--pki",
            pki().to_str().unwrap(),
            "--out",
            state.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    // An EID outside the EUM's prefix is refused.
    let o = veuicc()
        .args([
            "new",
            "--pki",
            pki().to_str().unwrap(),
            "--eid",
            "89049032123451234512345678901235",
        ])
        .args(["--out", dir.join("x.json").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("outside"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tcp_front_end_speaks_the_same_protocol() {
    let dir = tempdir("tcp");
    let state = new_card(&dir, &[]);
    let mut child = veuicc()
        .args([
            "tcp",
            "--state",
            state.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    err.read_line(&mut first).unwrap();
    let addr = first.trim().rsplit(' ').next().unwrap().to_string();
    for _ in 0..2 {
        let conn = std::net::TcpStream::connect(&addr).unwrap();
        let mut w = conn.try_clone().unwrap();
        let mut r = BufReader::new(conn);
        let mut ask = |line: String| {
            writeln!(w, "{line}").unwrap();
            let mut s = String::new();
            r.read_line(&mut s).unwrap();
            serde_json::from_str::<Value>(&s).unwrap()
        };
        assert_eq!(ask(req("connect", None))["payload"]["ecode"], 0);
        let ch = ask(req(
            "logic_channel_open",
            Some("a0000005591010ffffffff8900000100"),
        ));
        assert_eq!(ch["payload"]["ecode"], 1, "a fresh channel per connection");
        let v = ask(req("transmit", Some("81e2910003bf2e00")));
        assert_eq!(v["payload"]["data"], "6115");
        assert_eq!(ask("[1,2".into())["payload"]["ecode"], -1);
        assert_eq!(ask(req("disconnect", None))["payload"]["ecode"], 0);
    }
    child.kill().unwrap();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn card_faults_persist_in_the_state_file() {
    let dir = tempdir("faults");
    let state = new_card(&dir, &[]);
    let s = state.to_str().unwrap();
    let run = |args: &[&str]| veuicc().args(args).output().unwrap();
    let o = run(&[
        "fault",
        "--state",
        s,
        "--refuse-authenticate-server",
        "2",
        "--install-error",
        "5/12",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown = String::from_utf8_lossy(&run(&["show", "--state", s]).stdout).into_owned();
    assert!(
        shown.contains("refuse_authenticate_server: Some(2)"),
        "{shown}"
    );
    assert!(shown.contains("install_error: Some((5, 12))"), "{shown}");
    assert!(!run(&["fault", "--state", s, "--install-error", "5"])
        .status
        .success());
    assert!(run(&["fault", "--state", s, "--clear"]).status.success());
    let shown = String::from_utf8_lossy(&run(&["show", "--state", s]).stdout).into_owned();
    assert!(!shown.contains("faults:"), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}
