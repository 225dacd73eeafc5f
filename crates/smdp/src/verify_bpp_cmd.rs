//! `smdp verify-bpp`: checks a Bound Profile Package produced by any SM-DP+, given the
//! eUICC-side secrets, step by step (`rsp_bpp::check`), and explains the first failure in
//! SGP.22 terms: for people debugging their own SM-DP+.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use rsp_asn1::es9::base64_decode;
use rsp_auth::{Backend, Curve};
use rsp_bpp::check::{check, Inputs, Outcome, Report, Secret};
use rsp_bpp::kdf::SessionKeys;

#[derive(Args)]
pub struct VerifyBppArgs {
    /// The BPP: a file holding the DER BoundProfilePackage (BF36), its hex or base64, or a
    /// getBoundProfilePackage response body (JSON).
    #[arg(long)]
    bpp: PathBuf,
    /// The EID the session keys were derived for (32 digits).
    #[arg(long)]
    eid: String,
    /// otSK.EUICC of the session (hex scalar, 32 bytes).
    #[arg(long, group = "secret")]
    euicc_otsk: Option<String>,
    /// otSK.DP of the session (hex scalar); needs --euicc-otpk.
    #[arg(long, group = "secret")]
    dp_otsk: Option<String>,
    /// The ECDH shared secret ShS (hex, 32 bytes).
    #[arg(long, group = "secret")]
    shared_secret: Option<String>,
    /// The session keys: initial MCV, S-ENC and S-MAC (hex, 16 bytes each, colon-separated).
    #[arg(long, group = "secret")]
    session_keys: Option<String>,
    /// otPK.EUICC of the session (hex, 65 bytes, as in euiccSigned2): for smdpSign.
    #[arg(long)]
    euicc_otpk: Option<String>,
    /// CERT.DPpb (DER or PEM file): smdpSign is checked with its key, and its curve is the
    /// session's.
    #[arg(long)]
    dp_pb: Option<PathBuf>,
    /// The session's transaction ID (hex): BF23 must carry it.
    #[arg(long)]
    transaction_id: Option<String>,
    /// The curve of the ephemeral keys when no CERT.DPpb is given: `nist` or `brp`.
    #[arg(long, default_value = "nist")]
    curve: String,
    /// Write the opened profile package (the UPP, DER) here.
    #[arg(long)]
    profile_out: Option<PathBuf>,
    /// One JSON object instead of the annotated lines.
    #[arg(long)]
    json: bool,
}

fn hex_n<const N: usize>(what: &str, s: &str) -> Result<[u8; N]> {
    let b = hex::decode(s.trim()).with_context(|| format!("{what}: not hex"))?;
    b.try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{what}: {} bytes, {N} expected", b.len()))
}

/// DER from a file of DER, hex, base64 or a JSON body with `boundProfilePackage`.
fn read_bpp(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if raw.first() == Some(&0xBF) {
        return Ok(raw);
    }
    let text = std::str::from_utf8(&raw)
        .context("the BPP file is neither DER nor text")?
        .trim();
    if text.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(text).context("not valid JSON")?;
        let b64 = v["boundProfilePackage"]
            .as_str()
            .context("the JSON has no boundProfilePackage field")?;
        return base64_decode(b64).context("boundProfilePackage: not base64");
    }
    let compact: String = text.split_whitespace().collect();
    if compact.bytes().all(|c| c.is_ascii_hexdigit()) {
        return hex::decode(compact).context("odd number of hex digits");
    }
    base64_decode(&compact).context("the BPP file is neither DER, hex, base64 nor JSON")
}

fn read_cert(path: &Path) -> Result<Vec<u8>> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match std::str::from_utf8(&raw) {
        Ok(t) if t.contains("-----BEGIN") => {
            let body: String = t
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<Vec<_>>()
                .concat();
            base64_decode(body.trim()).context("PEM: not base64")
        }
        _ => Ok(raw),
    }
}

pub fn run(a: &VerifyBppArgs) -> Result<()> {
    let der = read_bpp(&a.bpp)?;
    let eid = hex_n::<16>("--eid", &a.eid)?;
    let secret = if let Some(s) = &a.euicc_otsk {
        Secret::EuiccOtsk(hex_n("--euicc-otsk", s)?)
    } else if let Some(s) = &a.dp_otsk {
        Secret::DpOtsk(hex_n("--dp-otsk", s)?)
    } else if let Some(s) = &a.shared_secret {
        Secret::SharedSecret(hex_n("--shared-secret", s)?)
    } else if let Some(s) = &a.session_keys {
        let k: Vec<&str> = s.split(':').collect();
        let [mcv, enc, mac] = k.as_slice() else {
            bail!("--session-keys: MCV:S-ENC:S-MAC expected");
        };
        Secret::SessionKeys(SessionKeys {
            initial_mcv: hex_n("initial MCV", mcv)?,
            s_enc: hex_n("S-ENC", enc)?,
            s_mac: hex_n("S-MAC", mac)?,
        })
    } else {
        bail!("give one of --euicc-otsk, --dp-otsk, --shared-secret or --session-keys");
    };
    let (dp_pb, curve) = match &a.dp_pb {
        Some(p) => {
            let cert = rsp_auth::cert::Cert::from_der(&read_cert(p)?)
                .with_context(|| format!("{}: not a certificate", p.display()))?;
            let key = cert.public_key().clone();
            let curve = key.curve();
            (Some(key), curve)
        }
        None => (
            None,
            match a.curve.as_str() {
                "nist" => Curve::NistP256,
                "brp" => Curve::BrainpoolP256r1,
                c => bail!("--curve {c}: nist or brp"),
            },
        ),
    };
    let inputs = Inputs {
        secret,
        curve,
        eid,
        euicc_otpk: a
            .euicc_otpk
            .as_deref()
            .map(|s| hex::decode(s.trim()).context("--euicc-otpk: not hex"))
            .transpose()?,
        dp_pb,
        transaction_id: a
            .transaction_id
            .as_deref()
            .map(|s| {
                hex::decode(s.trim())
                    .ok()
                    .and_then(|b| rsp_asn1::TransactionId::new(b).ok())
                    .context("--transaction-id: 1 to 16 bytes of hex")
            })
            .transpose()?,
        backend: Backend::RustCrypto,
    };
    let report = check(&der, &inputs);
    if let (Some(out), Some(p)) = (&a.profile_out, &report.profile) {
        std::fs::write(out, p).with_context(|| format!("writing {}", out.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&json(&report))?);
    } else {
        print(&report);
    }
    if report.failure().is_some() {
        std::process::exit(1);
    }
    Ok(())
}

fn print(r: &Report) {
    for s in &r.steps {
        let (mark, text) = match &s.outcome {
            Outcome::Passed(t) => ("ok  ", t.clone()),
            Outcome::Skipped(t) => ("skip", t.clone()),
            Outcome::Failed(f) => ("FAIL", f.detail.clone()),
        };
        println!("{mark} {:<12} {text}  [{}]", s.part, s.reference);
    }
    if let Some(p) = &r.profile {
        match rsp_saip::ProfilePackage::parse(p).and_then(|pkg| Ok((pkg.validate()?, pkg))) {
            Ok((header, pkg)) => println!(
                "ok   profile      a SAIP package of {} profile elements, ICCID {}",
                pkg.elements.len(),
                header.iccid_digits()
            ),
            Err(e) => println!("note profile      opened, but not a valid SAIP package: {e}"),
        }
    }
    match r.failure() {
        Some((s, f)) => println!(
            "\nfirst failure at {}: bppCommandId {:?}, errorReason {:?} (what the eUICC puts \
             in its ProfileInstallationResult)",
            s.part, f.bpp_command_id, f.error_reason
        ),
        None => println!("\nthe BPP passes every check"),
    }
}

fn json(r: &Report) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = r
        .steps
        .iter()
        .map(|s| {
            let (outcome, detail, cmd, reason) = match &s.outcome {
                Outcome::Passed(t) => ("passed", t.clone(), None, None),
                Outcome::Skipped(t) => ("skipped", t.clone(), None, None),
                Outcome::Failed(f) => (
                    "failed",
                    f.detail.clone(),
                    Some(format!("{:?}", f.bpp_command_id)),
                    Some(format!("{:?}", f.error_reason)),
                ),
            };
            serde_json::json!({
                "part": s.part, "reference": s.reference, "outcome": outcome, "detail": detail,
                "bppCommandId": cmd, "errorReason": reason,
            })
        })
        .collect();
    let keys = |k: &SessionKeys| {
        serde_json::json!({
            "initialMacChainingValue": hex::encode(k.initial_mcv),
            "sEnc": hex::encode(k.s_enc), "sMac": hex::encode(k.s_mac),
        })
    };
    serde_json::json!({
        "passed": r.failure().is_none(),
        "steps": steps,
        "sharedSecret": r.shared_secret.map(hex::encode),
        "sessionKeys": r.session_keys.as_ref().map(keys),
        "ppk": r.ppk.as_ref().map(keys),
        "segments": r.segments.iter().map(|(p, b)| serde_json::json!({"part": p, "plaintext": hex::encode(b)})).collect::<Vec<_>>(),
        "profileLength": r.profile.as_ref().map(Vec::len),
    })
}
