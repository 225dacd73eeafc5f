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
    /// A session recorded by `lpa download --record` with the virtual eUICC: the BPP, the
    /// EID, otSK.EUICC, the transaction ID and CERT.DPpb all come from it.
    #[arg(long, conflicts_with_all = ["bpp", "eid", "secret", "dp_pb", "transaction_id"])]
    session: Option<PathBuf>,
    /// The BPP: a file holding the DER BoundProfilePackage (BF36), its hex or base64, or a
    /// getBoundProfilePackage response body (JSON).
    #[arg(long, required_unless_present = "session")]
    bpp: Option<PathBuf>,
    /// The EID the session keys were derived for (32 digits).
    #[arg(long, required_unless_present = "session")]
    eid: Option<String>,
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

/// What a recorded session holds for the check: the BPP, the EID, otSK.EUICC, the
/// transaction ID and CERT.DPpb.
fn from_session(path: &Path) -> Result<(Vec<u8>, Inputs)> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = serde_json::from_slice(&raw).context("the session is not JSON")?;
    let events = v["events"]
        .as_array()
        .context("not a recorded session (no events)")?;
    let response = |function: &str| {
        events
            .iter()
            .rev()
            .find(|e| e["interface"] == "es9" && e["function"] == function)
            .map(|e| &e["response"]["body"]["json"])
            .with_context(|| format!("the session has no {function} response"))
    };
    let bpp = response("getBoundProfilePackage")?;
    let der = base64_decode(bpp["boundProfilePackage"].as_str().unwrap_or_default())
        .context("getBoundProfilePackage: no boundProfilePackage")?;
    let txid = bpp["transactionId"]
        .as_str()
        .and_then(|t| hex::decode(t).ok())
        .and_then(|b| rsp_asn1::TransactionId::new(b).ok());
    let cert = base64_decode(
        response("authenticateClient")?["smdpCertificate"]
            .as_str()
            .unwrap_or_default(),
    )
    .context("authenticateClient: no smdpCertificate")?;
    let dp_pb = rsp_auth::cert::Cert::from_der(&cert)
        .context("authenticateClient: smdpCertificate is not a certificate")?
        .public_key()
        .clone();
    let secret = events
        .iter()
        .rev()
        .find(|e| e["interface"] == "euicc")
        .context("the session holds no eUICC secret (recorded with a real card?)")?;
    let eid = hex_n::<16>("eid", secret["eid"].as_str().unwrap_or_default())?;
    let otsk = hex_n::<32>(
        "otskEuicc",
        secret["otskEuicc"].as_str().unwrap_or_default(),
    )?;
    Ok((
        der,
        Inputs {
            secret: Secret::EuiccOtsk(otsk),
            curve: dp_pb.curve(),
            eid,
            euicc_otpk: None,
            dp_pb: Some(dp_pb),
            transaction_id: txid,
            backend: Backend::RustCrypto,
        },
    ))
}

pub fn run(a: &VerifyBppArgs) -> Result<()> {
    let (der, inputs) = match &a.session {
        Some(s) => from_session(s)?,
        None => from_args(a)?,
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

fn from_args(a: &VerifyBppArgs) -> Result<(Vec<u8>, Inputs)> {
    let der = read_bpp(a.bpp.as_deref().context("--bpp or --session")?)?;
    let eid = hex_n::<16>("--eid", a.eid.as_deref().context("--eid or --session")?)?;
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
    Ok((der, inputs))
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
        "segments": r.segments.iter().map(|s| serde_json::json!({"part": s.part, "protected": hex::encode(&s.protected), "plaintext": hex::encode(&s.plaintext)})).collect::<Vec<_>>(),
        "profileLength": r.profile.as_ref().map(Vec::len),
    })
}
