//! `smdp record` and `smdp replay`: conformance vectors (crate smdp-vectors).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use smdp_vectors::{Params, PkiChoice};

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// The session's seed: the SM-DP+ draws from N, the virtual eUICC from N+1, the order
    /// from N+2.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `ours` (the PKI of `certs/`, made from seed 1), `sgp26` (the shared folder's), or a
    /// PKI folder in the SGP.26 layout.
    #[arg(long, default_value = "ours")]
    pki: PkiChoice,
    /// `nist` (NIST P-256) or `brp` (brainpoolP256r1).
    #[arg(long, default_value = "nist", value_parser = smdp_vectors::params::parse_curve)]
    curve: rsp_auth::Curve,
    /// The order asks for this confirmation code; the LPA gives it.
    #[arg(long)]
    confirmation_code: Option<String>,
    /// A pre-protected profile: the BPP carries ReplaceSessionKeys (A2).
    #[arg(long)]
    ppk: bool,
    /// `minimal`, `minimal:SIZE` (padded to SIZE bytes, e.g. 4k), `ts48:<variant>`, or a
    /// SAIP DER file.
    #[arg(long, default_value = "minimal")]
    profile: smdp_core::template::TemplateSource,
    /// Unix seconds of the fixed clock [default: 2026-08-01T00:00:00Z].
    #[arg(long)]
    time: Option<i64>,
    /// Where the session goes (JSON).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A session file written by `smdp record`.
    session: PathBuf,
    /// `smdp` (the LPA's requests to a fresh SM-DP+), `euicc` (the ES10b commands to a
    /// fresh virtual eUICC), `negative` (every negative vector), or `all`.
    #[arg(long, default_value = "all")]
    side: String,
}

pub fn record(a: &RecordArgs) -> Result<()> {
    let p = Params {
        seed: a.seed,
        pki: a.pki.clone(),
        curve: a.curve,
        confirmation_code: a.confirmation_code.clone(),
        ppk: a.ppk,
        profile: a.profile.clone(),
        time: a.time.unwrap_or(smdp_vectors::params::DEFAULT_TIME),
    };
    let r = runtime()?.block_on(smdp_vectors::session::record(&p))?;
    std::fs::write(&a.out, smdp_vectors::session::to_file(&r.document)?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    println!(
        "{}: {} events, {} negative vectors",
        a.out.display(),
        r.events.len(),
        r.document["negativeVectors"].as_array().map_or(0, Vec::len)
    );
    Ok(())
}

pub fn replay(a: &ReplayArgs) -> Result<()> {
    let raw =
        std::fs::read(&a.session).with_context(|| format!("reading {}", a.session.display()))?;
    let doc: serde_json::Value = serde_json::from_slice(&raw).context("the session is not JSON")?;
    let rt = runtime()?;
    let sides: &[&str] = match a.side.as_str() {
        "all" => &["smdp", "euicc", "negative"],
        "smdp" => &["smdp"],
        "euicc" => &["euicc"],
        "negative" => &["negative"],
        other => bail!("--side {other:?}: smdp, euicc, negative or all"),
    };
    let mut failed = false;
    for side in sides {
        let (what, compared, diffs) = match *side {
            "smdp" => {
                let o = rt.block_on(smdp_vectors::replay::server(&doc))?;
                ("SM-DP+: ES9+ exchanges", o.compared, o.diffs)
            }
            "euicc" => {
                let o = smdp_vectors::replay::euicc(&doc)?;
                ("eUICC: ES10 commands", o.compared, o.diffs)
            }
            _ => {
                let (n, d) = rt.block_on(smdp_vectors::negative::check(&doc))?;
                ("negative vectors", n, d)
            }
        };
        if diffs.is_empty() {
            println!("{what}: {compared} replayed, all as recorded");
        } else {
            failed = true;
            println!("{what}: {compared} replayed, {} differ", diffs.len());
            for d in diffs {
                println!("  {d}");
            }
        }
    }
    if failed {
        bail!("the current code no longer answers as the session recorded");
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
