//! `lpa load`: complete downloads against an SM-DP+ on loopback, many at once, measured.
//!
//! Each session is one fresh virtual eUICC (its own EID, its own CERT.EUICC issued under our
//! EUM) driven through its APDU interface by this crate's LPA: initiateAuthentication →
//! authenticateClient → getBoundProfilePackage → install → handleNotification, over HTTPS
//! with the server certificate verified. `concurrency` sessions run at once, each with its
//! own kept-alive connection (or a new connection per call, as lpac does).
//!
//! What is measured: sessions/s; errors by ES9+ subject/reason and by transport failure;
//! latency per ES9+ function and per session (HDR histograms, µs); the server's CPU seconds
//! from `/proc/<pid>/stat` (so that this process's CPU is not counted) and this process's
//! own; the server's peak RSS while the downloads ran.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rsp_asn1::ids::Eid;
use rsp_auth::pki::{CurvePki, Pki};
use rsp_auth::{Backend, Curve};
use serde::Serialize;
use veuicc::apdu::Card;
use veuicc::{Euicc, EuiccParts};

use crate::card::{Es10, VirtualCard};
use crate::download::Order;
use crate::es9::Client;
use crate::Error;

/// At most this many sessions in one run, and this many at once.
pub const MAX_SESSIONS: u64 = 1_000_000;
pub const MAX_CONCURRENCY: usize = 4096;

/// One download to run: the card's EID, and the order's matching ID (`None`: by EID, from
/// the default SM-DP+).
#[derive(Debug, Clone)]
pub struct Target {
    pub eid: Eid,
    pub matching_id: Option<String>,
}

/// The EID of session `i` of run `run` under an EUM whose EIDs start with `prefix`: the
/// prefix, the run number, the session number, check digits.
pub fn eid_for(prefix: &str, run: u32, i: u64) -> Result<Eid, Error> {
    let body = format!("{prefix}{:06}", run % 1_000_000);
    let width = 30usize
        .checked_sub(body.len())
        .filter(|w| *w >= 7)
        .ok_or_else(|| Error::Input(format!("EID prefix {prefix:?} leaves no room")))?;
    Eid::with_check_digits(&format!("{body}{i:0width$}")).map_err(Error::from)
}

/// How to run.
pub struct Settings {
    /// The SM-DP+ address as its certificate and smdpAddress name it (`host:port`).
    pub address: String,
    /// The eUICCs' curve.
    pub curve: Curve,
    /// STORE DATA segment size the LPA sends the BPP in (lpac's 120 by default).
    pub mss: usize,
    pub concurrency: usize,
    /// Stop starting sessions after this long.
    pub duration: Option<Duration>,
    /// Open loop: session i starts at i / rate seconds, whether or not earlier ones finished
    /// (`concurrency` is then the most in flight; a session that finds no free LPA within a
    /// second of its time is dropped and counted). `None`: closed loop, each LPA starts its
    /// next session when the last one ends.
    pub rate: Option<f64>,
    /// A session not done in this long counts as timed out (an LPA's user gives up).
    pub session_timeout: Option<Duration>,
    /// The server processes (one per node), for their CPU time and RSS, summed.
    pub server_pids: Vec<u32>,
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(h: &Histogram<u64>) -> Self {
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            max_ms: h.max() as f64 / 1000.0,
        }
    }
}

/// CPU time of a process (user + system).
#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    pub seconds: f64,
    pub ms_per_session: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub sessions: u64,
    pub ok: u64,
    pub errors: u64,
    /// By ES9+ `subject/reason` (`es9 8.2.6/3.8`), by transport failure (`transport
    /// getBoundProfilePackage`), or by card refusal.
    pub errors_by_kind: BTreeMap<String, u64>,
    pub wall_seconds: f64,
    pub sessions_per_second: f64,
    /// TCP+TLS connections opened, and how many of them resumed a TLS session.
    pub connections: u64,
    pub resumed_connections: u64,
    pub session_latency: Latency,
    pub function_latency: BTreeMap<String, Latency>,
    /// The server processes measured (one per node); empty when none could be seen.
    pub server_pids: Vec<u32>,
    pub server_cpu: Option<Cpu>,
    pub client_cpu: Cpu,
    pub server_peak_rss_mib: Option<f64>,
    /// The server's RSS as the run went: (sessions done, MiB) at each tenth, for a leak check.
    pub server_rss_mib_by_sessions: Vec<(u64, f64)>,
    /// The first few error messages, for a human.
    pub first_errors: Vec<String>,
}

struct Metrics {
    functions: BTreeMap<&'static str, Histogram<u64>>,
    sessions: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    first_errors: Vec<String>,
    ok: u64,
}

fn histogram() -> Histogram<u64> {
    // 1 µs to 10 min, 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Where a run is, for a progress line.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
    pub errors: u64,
    pub elapsed: Duration,
}

/// The card of one session: a fresh eUICC for `eid` under `pki`'s EUM.
fn card_for(
    pki: &CurvePki,
    trust: &rsp_auth::chain::TrustStore,
    eid: &Eid,
    seed: u64,
) -> Result<Es10<VirtualCard<rsp_auth::rng::Rng>>, Error> {
    let mut rng = rsp_auth::rng::rng(Some(seed));
    let issued = pki
        .issue_euicc_with(eid, &mut rng, Backend::AwsLc)
        .map_err(|e| Error::Input(format!("issuing the eUICC {eid}: {e}")))?;
    let eum = pki
        .eum
        .clone()
        .ok_or_else(|| Error::Input("the PKI has no EUM certificate".into()))?;
    let euicc = Euicc::from_parts(
        EuiccParts {
            euicc_cert: issued.cert,
            eum_cert: eum,
            sk_euicc: issued.key,
            trust_store: trust.clone(),
        },
        Backend::AwsLc,
    )
    .map_err(|e| Error::Input(format!("the eUICC {eid}: {e}")))?;
    Es10::open(VirtualCard {
        card: Card::new(euicc, rng),
        state: None,
    })
}

/// The error's kind, as counted.
fn kind(e: &Error) -> String {
    match e {
        Error::Es9 {
            function,
            subject,
            reason,
            ..
        } => format!("es9 {function} {subject}/{reason}"),
        Error::Es9Asn1 { function, code, .. } => format!("es9 {function} error {code}"),
        Error::Transport { function, .. } => format!("transport {function}"),
        Error::Sw { function, .. } | Error::Refused { function, .. } => {
            format!("card {function}")
        }
        Error::Input(_) => "input".into(),
        Error::MetadataMismatch(_) => "metadataMismatch".into(),
    }
}

/// Runs one complete session: download, then the notifications (the PIR).
async fn session(
    pki: &CurvePki,
    trust: &rsp_auth::chain::TrustStore,
    es9: &Client,
    address: &str,
    t: &Target,
    seed: u64,
    mss: usize,
) -> Result<(), Error> {
    let mut card = card_for(pki, trust, &t.eid, seed)?;
    card.mss = mss;
    let order = Order {
        address: address.to_string(),
        matching_id: t.matching_id.clone(),
        confirmation_code: None,
    };
    crate::download::download(&mut card, es9, &order, |_| {}).await?;
    for sent in crate::notifications::process(&mut card, es9, true).await? {
        sent.outcome.map_err(|why| Error::Transport {
            function: "handleNotification",
            detail: why,
        })?;
    }
    Ok(())
}

/// Runs every target's download, `settings.concurrency` at once, on `nodes` (one client per
/// SM-DP+ node: concurrent LPA k uses node k mod n, with a fork of its client so it keeps its
/// own connection).
pub async fn run(
    settings: &Settings,
    nodes: &[Client],
    pki: Arc<Pki>,
    trust: Arc<rsp_auth::chain::TrustStore>,
    targets: Arc<Vec<Target>>,
    progress: impl Fn(Progress) + Send + 'static,
) -> Result<Report, Error> {
    if targets.len() as u64 > MAX_SESSIONS {
        return Err(Error::Input(format!("at most {MAX_SESSIONS} sessions")));
    }
    if pki.by_curve(settings.curve).is_none() {
        return Err(Error::Input(format!(
            "the PKI has no {} CI",
            settings.curve
        )));
    }
    if !(1..=MAX_CONCURRENCY).contains(&settings.concurrency) {
        return Err(Error::Input(format!(
            "concurrency is 1 to {MAX_CONCURRENCY}"
        )));
    }
    let metrics = Arc::new(Mutex::new(Metrics {
        functions: BTreeMap::new(),
        sessions: histogram(),
        errors: BTreeMap::new(),
        first_errors: Vec::new(),
        ok: 0,
    }));
    let connections = Arc::new(AtomicU64::new(0));
    let resumed = Arc::new(AtomicU64::new(0));
    let observer: crate::es9::Observer = {
        let (metrics, connections, resumed) =
            (metrics.clone(), connections.clone(), resumed.clone());
        Arc::new(move |function, took, used| {
            use crate::es9::Connection;
            if used != Connection::Reused {
                connections.fetch_add(1, Ordering::Relaxed);
            }
            if used == Connection::Resumed {
                resumed.fetch_add(1, Ordering::Relaxed);
            }
            let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
            let _ = m
                .functions
                .entry(function)
                .or_insert_with(histogram)
                .record(micros(took));
        })
    };
    if nodes.is_empty() {
        return Err(Error::Input("no SM-DP+ node to load".into()));
    }
    let nodes: Vec<Client> = nodes
        .iter()
        .map(|c| c.clone().observe(observer.clone()))
        .collect();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let total = targets.len() as u64;
    let servers = settings.server_pids.clone();
    let server_cpu0 = cpu_of(&servers);
    let client_cpu0 = proc_cpu_seconds(std::process::id()).unwrap_or(0.0);
    let started = Instant::now();
    // The progress line and the RSS sampler.
    let peak_rss = Arc::new(AtomicU64::new(0));
    let rss_samples = Arc::new(Mutex::new(Vec::new()));
    let ticker = {
        let servers = servers.clone();
        let (done, errors, stop, peak_rss, rss_samples) = (
            done.clone(),
            errors.clone(),
            stop.clone(),
            peak_rss.clone(),
            rss_samples.clone(),
        );
        tokio::spawn(async move {
            let mut next_tenth = 1;
            loop {
                if let Some(kib) = rss_of(&servers) {
                    peak_rss.fetch_max(kib, Ordering::Relaxed);
                    let d = done.load(Ordering::Relaxed);
                    if next_tenth <= 10 && d * 10 >= total * next_tenth {
                        rss_samples
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((d, kib as f64 / 1024.0));
                        while next_tenth <= 10 && d * 10 >= total * next_tenth {
                            next_tenth += 1;
                        }
                    }
                }
                progress(Progress {
                    done: done.load(Ordering::Relaxed),
                    total,
                    errors: errors.load(Ordering::Relaxed),
                    elapsed: started.elapsed(),
                });
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let deadline = settings.duration.map(|d| started + d);
    let mut workers = Vec::new();
    for k in 0..settings.concurrency.min(targets.len().max(1)) {
        let (targets, next, done, errors, metrics) = (
            targets.clone(),
            next.clone(),
            done.clone(),
            errors.clone(),
            metrics.clone(),
        );
        let (pki, trust, es9, address, curve, mss) = (
            pki.clone(),
            trust.clone(),
            nodes[k % nodes.len()].fork(),
            settings.address.clone(),
            settings.curve,
            settings.mss,
        );
        let (rate, timeout) = (settings.rate, settings.session_timeout);
        workers.push(tokio::spawn(async move {
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = targets.get(i as usize) else {
                    return;
                };
                if let Some(rate) = rate {
                    let at = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(at.into()).await;
                    if Instant::now() > at + Duration::from_secs(1) {
                        // Its LPA would have found nobody to run it: an arrival lost to
                        // the client's own limit, not the server's.
                        let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
                        *m.errors.entry("dropped (no free LPA)".into()).or_default() += 1;
                        drop(m);
                        errors.fetch_add(1, Ordering::Relaxed);
                        done.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                }
                let began = Instant::now();
                let cpki = pki.by_curve(curve).expect("checked above");
                let run = session(cpki, &trust, &es9, &address, t, i, mss);
                let outcome = match timeout {
                    Some(d) => tokio::time::timeout(d, run).await.unwrap_or_else(|_| {
                        Err(Error::Transport {
                            function: "session",
                            detail: format!("not done in {} s", d.as_secs_f64()),
                        })
                    }),
                    None => run.await,
                };
                let took = began.elapsed();
                {
                    let mut m = metrics.lock().unwrap_or_else(|p| p.into_inner());
                    match &outcome {
                        Ok(()) => {
                            m.ok += 1;
                            let _ = m.sessions.record(micros(took));
                        }
                        Err(e) => {
                            *m.errors.entry(kind(e)).or_default() += 1;
                            if m.first_errors.len() < 5 {
                                m.first_errors.push(format!("{}: {e}", t.eid));
                            }
                        }
                    }
                }
                if outcome.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        w.await
            .map_err(|e| Error::Input(format!("a load worker stopped: {e}")))?;
    }
    let wall = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    let client_cpu = proc_cpu_seconds(std::process::id()).unwrap_or(0.0) - client_cpu0;
    let server_cpu = match (cpu_of(&servers), server_cpu0) {
        (Some(c), Some(c0)) => Some(c - c0),
        _ => None,
    };
    let m = metrics.lock().unwrap_or_else(|p| p.into_inner());
    let sessions = done.load(Ordering::Relaxed);
    let per = |s: f64| Cpu {
        seconds: s,
        ms_per_session: if sessions == 0 {
            0.0
        } else {
            s * 1000.0 / sessions as f64
        },
    };
    let rss = peak_rss.load(Ordering::Relaxed);
    let samples = std::mem::take(&mut *rss_samples.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(Report {
        sessions,
        ok: m.ok,
        errors: sessions - m.ok,
        errors_by_kind: m.errors.clone(),
        wall_seconds: wall,
        sessions_per_second: if wall > 0.0 { m.ok as f64 / wall } else { 0.0 },
        connections: connections.load(Ordering::Relaxed),
        resumed_connections: resumed.load(Ordering::Relaxed),
        session_latency: Latency::of(&m.sessions),
        function_latency: m
            .functions
            .iter()
            .map(|(f, h)| (f.to_string(), Latency::of(h)))
            .collect(),
        server_pids: servers,
        server_cpu: server_cpu.map(per),
        client_cpu: per(client_cpu),
        server_peak_rss_mib: (rss > 0).then(|| rss as f64 / 1024.0),
        server_rss_mib_by_sessions: samples,
        first_errors: m.first_errors.clone(),
    })
}

impl Report {
    /// The report for a human: one block, then the line a script parses.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} sessions in {:.2} s: {} ok, {} errors, {:.1} sessions/s, {} connections ({} TLS \
             resumptions)\n",
            self.sessions,
            self.wall_seconds,
            self.ok,
            self.errors,
            self.sessions_per_second,
            self.connections,
            self.resumed_connections
        );
        for (k, n) in &self.errors_by_kind {
            out += &format!("  error {k}: {n}\n");
        }
        for e in &self.first_errors {
            out += &format!("  e.g. {e}\n");
        }
        let row = |name: &str, l: &Latency| {
            format!(
                "  {name:<24} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}\n",
                l.count, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            )
        };
        out += &format!(
            "  {:<24} {:>8} {:>9} {:>9} {:>9} {:>9}\n",
            "latency (ms)", "count", "p50", "p90", "p99", "max"
        );
        for (f, l) in &self.function_latency {
            out += &row(f, l);
        }
        out += &row("session", &self.session_latency);
        match &self.server_cpu {
            Some(c) => {
                out += &format!(
                    "  server (pid {}) CPU {:.2} s, {:.3} ms/session; peak RSS {:.1} MiB\n",
                    self.server_pids
                        .iter()
                        .map(u32::to_string)
                        .collect::<Vec<_>>()
                        .join(" + "),
                    c.seconds,
                    c.ms_per_session,
                    self.server_peak_rss_mib.unwrap_or(0.0)
                )
            }
            None => out += "  server CPU not measured (no --server-pid, none found)\n",
        }
        if !self.server_rss_mib_by_sessions.is_empty() {
            let by: Vec<String> = self
                .server_rss_mib_by_sessions
                .iter()
                .map(|(n, m)| format!("{n}: {m:.1}"))
                .collect();
            out += &format!("  server RSS MiB by sessions done: {}\n", by.join(", "));
        }
        out += &format!(
            "  client CPU {:.2} s, {:.3} ms/session\n",
            self.client_cpu.seconds, self.client_cpu.ms_per_session
        );
        out += &self.line();
        out.push('\n');
        out
    }

    /// `lpa-load key=value …`: the last line, for scripts.
    pub fn line(&self) -> String {
        format!(
            "lpa-load sessions={} ok={} errors={} wall_s={:.3} sessions_per_s={:.1} \
             session_p50_ms={:.2} session_p99_ms={:.2} server_cpu_ms_per_session={} \
             client_cpu_ms_per_session={:.3} server_peak_rss_mib={} connections={} resumed={}",
            self.sessions,
            self.ok,
            self.errors,
            self.wall_seconds,
            self.sessions_per_second,
            self.session_latency.p50_ms,
            self.session_latency.p99_ms,
            self.server_cpu
                .as_ref()
                .map(|c| format!("{:.3}", c.ms_per_session))
                .unwrap_or("-".into()),
            self.client_cpu.ms_per_session,
            self.server_peak_rss_mib
                .map(|m| format!("{m:.1}"))
                .unwrap_or("-".into()),
            self.connections,
            self.resumed_connections
        )
    }
}

/// User + system CPU seconds of a process (all its threads, live and exited), from
/// `/proc/<pid>/stat`. Linux reports them in USER_HZ ticks, which the kernel ABI fixes at 100.
/// The summed CPU seconds of `pids` (`None` if any cannot be read, or there are none).
fn cpu_of(pids: &[u32]) -> Option<f64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| proc_cpu_seconds(p)).sum()
}

/// The summed RSS of `pids` in KiB.
fn rss_of(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| proc_rss_kib(p)).sum()
}

pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 11 and 12 after the name and state.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Resident set size of a process, KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn proc_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// The process listening on TCP `addr` (a loopback socket), found through `/proc/net/tcp*`
/// and the processes' open sockets; `None` when it cannot be seen (another user's process).
pub fn listener_pid(addr: SocketAddr) -> Option<u32> {
    let port = format!("{:04X}", addr.port());
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:HEXPORT; state 0A is LISTEN; inode is field 10.
            if f.len() > 9 && f[1].ends_with(&format!(":{port}")) && f[3] == "0A" {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(link) = std::fs::read_link(fd.path()) {
                if inodes.iter().any(|i| link.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

/// Whether `addr` is a loopback address: `lpa load` sends load nowhere else.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eids_are_distinct_valid_and_under_the_prefix() {
        let a = eid_for("89049032", 7, 0).unwrap();
        let b = eid_for("89049032", 7, 1).unwrap();
        assert_ne!(a, b);
        assert!(a.check_digits_ok() && b.check_digits_ok());
        assert!(a.to_string().starts_with("89049032000007"));
        assert!(eid_for("8904903212345678901234", 1, 0).is_err());
    }

    #[test]
    fn this_process_has_cpu_time_and_rss() {
        let me = std::process::id();
        assert!(proc_cpu_seconds(me).is_some());
        assert!(proc_rss_kib(me).unwrap() > 0);
    }
}
