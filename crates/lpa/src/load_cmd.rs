//! `lpa load`: reserve N orders, run N complete downloads C at once, report.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use lpa::load::{eid_for, Progress, Settings, Target};
use serde_json::json;

#[derive(clap::Args)]
pub struct LoadArgs {
    /// The SM-DP+ address as it serves itself (its certificate's name and smdpAddress).
    #[arg(long, default_value = "localhost:8443")]
    smdp: String,
    /// The socket to connect to when the address does not resolve to it (loopback only);
    /// several, comma-separated, spread the LPAs over several SM-DP+ nodes (LPA k on node k
    /// mod n), as a load balancer would.
    #[arg(long, value_delimiter = ',')]
    connect: Vec<SocketAddr>,
    /// Complete downloads to run (at most 1,000,000).
    #[arg(long, default_value_t = 200)]
    sessions: u64,
    /// Virtual eUICCs downloading at once, each with its own connection.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// The eUICCs' curve: `nist` (P-256) or `brp` (brainpoolP256r1).
    #[arg(long, default_value = "nist")]
    curve: String,
    /// Size of each profile package (`12k`, `50k`, `256k`, or any size up to `1m`): the
    /// orders' template is `minimal:<size>`.
    #[arg(long, default_value = "50k")]
    profile_size: String,
    /// How the orders are made: `rest` (POST /v1/ESimProfiles), `cli` (`smdp profile add
    /// --count` on the server's data folder), or `none` (made already: matching IDs
    /// PREFIX1…PREFIXN, or with --by-eid the EIDs of --run).
    #[arg(long, default_value = "rest")]
    reserve: String,
    /// Orders for the eUICCs' EIDs, downloaded by EID (default SM-DP+), instead of by
    /// matching ID.
    #[arg(long)]
    by_eid: bool,
    /// A new TCP and TLS connection for every ES9+ call (as lpac does); TLS sessions are
    /// resumed.
    #[arg(long)]
    new_connection_per_call: bool,
    /// Stop starting downloads after this many seconds.
    #[arg(long)]
    duration: Option<u64>,
    /// Open loop: start this many downloads per second whatever the server's pace (with at
    /// most --concurrency in flight); without it each LPA starts its next download when
    /// its last one ends.
    #[arg(long)]
    rate: Option<f64>,
    /// Count a download not done in this many seconds as timed out (`transport session`).
    #[arg(long)]
    session_timeout: Option<f64>,
    /// The REST API (plain HTTP, loopback).
    #[arg(long, default_value = "127.0.0.1:8080")]
    rest: String,
    /// The account the orders are made for (`--reserve rest`).
    #[arg(long, env = "SMDP_ACCOUNT_SID")]
    account: Option<String>,
    /// The account's AuthToken.
    #[arg(long, env = "SMDP_AUTH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The server's processes (one per node, comma-separated), for their CPU time and RSS
    /// [default: the processes listening on the ES9+ sockets, when they can be seen].
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// The PKI the eUICCs are issued under (its EUM key is needed).
    #[arg(long, default_value = "certs")]
    pki: PathBuf,
    /// This run's number, in every EID (six digits) [default: random].
    #[arg(long)]
    run: Option<u32>,
    /// Matching IDs of `--reserve cli|none`: PREFIX1 … PREFIXN [default: LOAD-RUN-].
    #[arg(long)]
    matching_id_prefix: Option<String>,
    /// The `smdp` command (`--reserve cli`).
    #[arg(long, default_value = "smdp")]
    smdp_bin: PathBuf,
    /// The server's data folder (`--reserve cli`).
    #[arg(long, env = "SMDP_DATA", default_value = "data")]
    data: PathBuf,
}

async fn loopback(what: &str, addr: &str) -> Result<SocketAddr> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .with_context(|| format!("{what} {addr:?}"))?
        .collect();
    let Some(a) = found.iter().find(|a| a.ip().is_loopback()) else {
        bail!("{what} {addr} is not a loopback address: lpa load sends load to loopback only");
    };
    Ok(*a)
}

fn progress_line(label: &'static str) -> impl Fn(Progress) + Send + 'static {
    let tty = std::io::stderr().is_terminal();
    move |p: Progress| {
        if !tty {
            return;
        }
        let width = 30;
        let filled = (p.done * width / p.total.max(1)) as usize;
        let rate = p.done as f64 / p.elapsed.as_secs_f64().max(0.001);
        eprint!(
            "\r{label} [{}{}] {}/{} {rate:.0}/s errors {}   ",
            "#".repeat(filled),
            " ".repeat(width as usize - filled),
            p.done,
            p.total,
            p.errors
        );
        if p.done == p.total {
            eprintln!();
        }
    }
}

/// `12k`, `50k`, `256k`, `1m`, or bytes (at most what the REST API takes).
fn size_bytes(s: &str) -> Result<usize> {
    match rsp_saip::generate::parse_size(s) {
        Ok(b) if (1..=1 << 20).contains(&b) => Ok(b),
        Ok(_) => bail!("--profile-size {s:?}: at most 1m"),
        Err(e) => bail!("--profile-size: {e}"),
    }
}

pub async fn run(a: &LoadArgs, es9: lpa::es9::Client, json_out: bool, mss: usize) -> Result<bool> {
    if a.sessions == 0 || a.sessions > lpa::load::MAX_SESSIONS {
        bail!("--sessions is 1 to {}", lpa::load::MAX_SESSIONS);
    }
    let curve = match a.curve.as_str() {
        "nist" => rsp_auth::Curve::NistP256,
        "brp" => rsp_auth::Curve::BrainpoolP256r1,
        c => bail!("--curve {c:?}: nist or brp"),
    };
    let size = a.profile_size.trim();
    let profile_bytes = size_bytes(size)?;
    let template = format!("minimal:{profile_bytes}");
    let connect = if a.connect.is_empty() {
        vec![loopback("--smdp", &a.smdp).await?]
    } else {
        if let Some(c) = a.connect.iter().find(|c| !c.ip().is_loopback()) {
            bail!("--connect {c} is not a loopback address");
        }
        a.connect.clone()
    };
    let server_pids: Vec<u32> = if a.server_pid.is_empty() {
        connect
            .iter()
            .map(|&c| lpa::load::listener_pid(c))
            .collect::<Option<_>>()
            .unwrap_or_default()
    } else {
        a.server_pid.clone()
    };
    let pki = rsp_auth::pki::Pki::load(&a.pki)
        .with_context(|| format!("loading the PKI {}", a.pki.display()))?;
    let cpki = pki
        .by_curve(curve)
        .with_context(|| format!("the PKI has no {curve} CI"))?;
    let trust = pki.trust_store(SystemTime::now())?;
    let prefix = cpki
        .eum
        .as_ref()
        .and_then(|e| e.permitted_eid_prefixes.as_ref())
        .and_then(|p| p.first().cloned())
        .unwrap_or_else(|| "89049032".into());
    let pki = Arc::new(pki);
    let run = a.run.unwrap_or_else(|| {
        let mut b = [0u8; 4];
        rand_core::Rng::fill_bytes(&mut rsp_auth::rng::rng(None), &mut b);
        u32::from_le_bytes(b) % 1_000_000
    });
    let eids = (0..a.sessions)
        .map(|i| eid_for(&prefix, run, i))
        .collect::<Result<Vec<_>, _>>()?;
    let mid_prefix = a
        .matching_id_prefix
        .clone()
        .unwrap_or_else(|| format!("LOAD-{run:06}-"));
    let mut reservation = json!(null);
    let targets: Vec<Target> = match a.reserve.as_str() {
        "rest" => {
            let rest = lpa::reserve::Rest {
                addr: loopback("--rest", &a.rest).await?,
                account_sid: a
                    .account
                    .clone()
                    .context("--reserve rest needs --account (or SMDP_ACCOUNT_SID)")?,
                auth_token: a
                    .token
                    .clone()
                    .context("--reserve rest needs --token (or SMDP_AUTH_TOKEN)")?,
            };
            let n = eids.len();
            let reserve_progress = progress_line("reserve ");
            let started = std::time::Instant::now();
            let lpa::reserve::Reserved {
                targets,
                created_s,
                available_s: seconds,
            } = lpa::reserve::reserve(
                &rest,
                eids,
                a.by_eid,
                Some(&template),
                64,
                move |done, total| {
                    reserve_progress(Progress {
                        done: done as u64,
                        total: total as u64,
                        errors: 0,
                        elapsed: started.elapsed(),
                    })
                },
            )
            .await?;
            reservation = json!({"orders": n, "seconds": seconds, "created_seconds": created_s,
                                 "per_second": n as f64 / seconds.max(1e-9)});
            if !json_out {
                println!(
                    "reserved {n} orders through REST in {seconds:.2} s ({:.0}/s, all available; \
                     the last create answered at {created_s:.2} s)",
                    n as f64 / seconds.max(1e-9)
                );
            }
            targets
        }
        "cli" => {
            if a.by_eid {
                bail!("--reserve cli makes orders by matching ID: use --reserve rest for --by-eid");
            }
            let started = std::time::Instant::now();
            let out = std::process::Command::new(&a.smdp_bin)
                .args(["profile", "add", "--count"])
                .arg(a.sessions.to_string())
                .arg("--matching-id-prefix")
                .arg(&mid_prefix)
                .arg("--template")
                .arg(&template)
                .arg("--data")
                .arg(&a.data)
                .output()
                .with_context(|| format!("running {}", a.smdp_bin.display()))?;
            if !out.status.success() {
                bail!(
                    "smdp profile add --count: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let seconds = started.elapsed().as_secs_f64();
            reservation = json!({"orders": a.sessions, "seconds": seconds});
            if !json_out {
                println!(
                    "reserved {} orders with smdp profile add in {seconds:.2} s",
                    a.sessions
                );
            }
            eids.into_iter()
                .enumerate()
                .map(|(i, eid)| Target {
                    eid,
                    matching_id: Some(format!("{mid_prefix}{}", i + 1)),
                })
                .collect()
        }
        "none" => eids
            .into_iter()
            .enumerate()
            .map(|(i, eid)| Target {
                eid,
                matching_id: (!a.by_eid).then(|| format!("{mid_prefix}{}", i + 1)),
            })
            .collect(),
        r => bail!("--reserve {r:?}: rest, cli or none"),
    };
    // The crypto floor, timed now (nothing else runs) with the server's libraries.
    let nist = pki.by_curve(rsp_auth::Curve::NistP256);
    let floor = lpa::floor::measure(curve, profile_bytes, nist.and_then(|c| c.dp_tls.as_ref()))?;
    let nodes: Vec<lpa::es9::Client> = connect
        .iter()
        .map(|&c| {
            let node = es9.clone().resolve(&a.smdp, c);
            if a.new_connection_per_call {
                node.new_connection_per_call()
            } else {
                node
            }
        })
        .collect();
    let settings = Settings {
        address: a.smdp.clone(),
        curve,
        mss,
        concurrency: a.concurrency,
        duration: a.duration.map(Duration::from_secs),
        rate: a.rate.filter(|r| *r > 0.0),
        session_timeout: a.session_timeout.map(Duration::from_secs_f64),
        server_pids,
    };
    let report = lpa::load::run(
        &settings,
        &nodes,
        pki,
        Arc::new(trust),
        Arc::new(targets),
        progress_line("download"),
    )
    .await?;
    let ratio = report
        .server_cpu
        .as_ref()
        .map(|c| c.ms_per_session / floor.session_ms);
    if json_out {
        let mut v = serde_json::to_value(&report)?;
        v["crypto_floor"] = serde_json::to_value(&floor)?;
        v["server_cpu_to_floor"] = json!(ratio);
        v["ok_run"] = json!(report.errors == 0);
        v["run"] = json!(run);
        v["curve"] = json!(a.curve);
        v["profile_size"] = json!(size);
        v["concurrency"] = json!(a.concurrency);
        v["new_connection_per_call"] = json!(a.new_connection_per_call);
        v["nodes"] = json!(connect.iter().map(ToString::to_string).collect::<Vec<_>>());
        v["reservation"] = reservation;
        println!("{v}");
    } else {
        print!(
            "run {run:06}: {} curve, {size} profiles, concurrency {}, {}, {}\n{}",
            a.curve,
            a.concurrency,
            if a.new_connection_per_call {
                "a new connection per call"
            } else {
                "keep-alive"
            },
            match connect.len() {
                1 => format!("node {}", connect[0]),
                n => format!(
                    "{n} nodes ({})",
                    connect
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            },
            report.text()
        );
        println!(
            "crypto floor {:.3} ms/session: 4 signs × {:.1} µs, 5 verifies × {:.1} µs, keygen+ECDH \
             {:.1} µs, KDF {:.1} µs, BSP over {} bytes {:.1} µs, TLS handshake {:.1} µs",
            floor.session_ms,
            floor.sign_us,
            floor.verify_us,
            floor.keygen_ecdh_us,
            floor.kdf_us,
            floor.profile_bytes,
            floor.bsp_us,
            floor.tls_handshake_us
        );
        if let Some(r) = ratio {
            println!(
                "lpa-load-floor floor_ms={:.3} server_cpu_to_floor={r:.2}",
                floor.session_ms
            );
        }
    }
    Ok(report.errors == 0 && report.sessions == a.sessions.min(report.sessions.max(1)))
}
