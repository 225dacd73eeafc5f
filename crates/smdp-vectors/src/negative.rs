//! Negative vectors: for each step of a recorded session, one-field mutations of the message
//! that step sends, each with the answer SGP.22 requires of the side receiving it. A vector
//! starts from the session replayed up to that message (`replayEvents`) on a fresh rig, then
//! sends the mutated message instead. The expected answers are written here from SGP.22
//! (ES9+ codes: digest §1.5 and §2; ES10b codes: the RSPDefinitions INTEGERs; BPP errors:
//! bppCommandId and errorReason of the PIR); [`make`] runs each and refuses to record a
//! session where this code answers otherwise.

use anyhow::{bail, ensure, Context, Result};
use base64::Engine as _;
use lpa::record::Event;
use rsp_asn1::tlv::{push_tlv, Tlv};
use rsp_auth::pki::Pki;
use rsp_auth::Backend;
use serde_json::{json, Value};

use crate::params::Params;
use crate::rig::{self, Rig};
use crate::session::{b64, Parts};
use crate::tlv;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What a mutated message gets.
fn es9_answer(status: u16, body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let st = &v["header"]["functionExecutionStatus"];
    json!({
        "http": status,
        "status": st["status"],
        "subjectCode": st["statusCodeData"]["subjectCode"],
        "reasonCode": st["statusCodeData"]["reasonCode"],
    })
}

fn es9_expect(subject: &str, reason: &str) -> Value {
    json!({"http": 200, "status": "Failed", "subjectCode": subject, "reasonCode": reason})
}

/// An ES10b error answer: `BF38`/`BF21` `A1 { 80 txid, 02 code }`.
fn es10_answer(response: &[u8]) -> Value {
    let code = Tlv::read_exact(response)
        .ok()
        .and_then(|t| tlv::optional(&t, &[0xA1]))
        .and_then(|e| {
            tlv::optional(&e, &[0x02])
                .or_else(|| tlv::optional(&e, &[0x81]))
                .map(|c| c.value.iter().fold(0i64, |a, b| a << 8 | i64::from(*b)))
        });
    match code {
        Some(c) => json!({"errorCode": c}),
        None => json!({"response": hex::encode(response)}),
    }
}

fn pir_answer(pir: &rsp_asn1::notification::ProfileInstallationResult) -> Value {
    match &pir.profile_installation_result_data.value().final_result {
        rsp_asn1::notification::FinalResult::ErrorResult(e) => json!({
            "bppCommandId": e.bpp_command_id.0,
            "bppCommandIdName": e.bpp_command_id.name(),
            "errorReason": e.error_reason.0,
            "errorReasonName": e.error_reason.name(),
        }),
        rsp_asn1::notification::FinalResult::SuccessResult(_) => json!({"success": true}),
    }
}

fn pir_expect(
    cmd: rsp_asn1::notification::BppCommandId,
    reason: rsp_asn1::notification::ErrorReason,
) -> Value {
    json!({"bppCommandId": cmd.0, "bppCommandIdName": cmd.name(),
           "errorReason": reason.0, "errorReasonName": reason.name()})
}

/// The message a vector sends in place of the recorded one.
enum Message {
    Es9 {
        function: String,
        path: String,
        body: Value,
    },
    Es10 {
        function: String,
        command: Vec<u8>,
    },
    Bpp(Vec<u8>),
}

struct Vector {
    id: String,
    side: &'static str,
    step: String,
    mutation: &'static str,
    /// Index of the recorded event this one replaces.
    at: usize,
    message: Message,
    expected: Value,
}

impl Vector {
    fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id,
            "side": self.side,
            "step": self.step,
            "mutation": self.mutation,
            "replayEvents": self.at,
            "expected": self.expected,
        });
        match &self.message {
            Message::Es9 {
                function,
                path,
                body,
            } => {
                v["request"] = json!({"function": function, "path": path,
                    "body": serde_json::to_string(body).unwrap_or_default()});
            }
            Message::Es10 { function, command } => {
                v["command"] = json!({"function": function, "hex": hex::encode(command)});
            }
            Message::Bpp(b) => v["boundProfilePackage"] = json!(hex::encode(b)),
        }
        v
    }
}

/// Flips the last bit of the byte at `at`.
fn flip(mut b: Vec<u8>, at: usize) -> Vec<u8> {
    b[at] ^= 0x01;
    b
}

/// Where `part` (a slice of `whole`) starts in it.
fn offset(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}

fn sign(key: &rsp_auth::SigningKey, msg: &[u8]) -> Result<[u8; 64]> {
    Ok(key.sign_raw(msg, Backend::RustCrypto)?)
}

/// Event index of the first ES9+ exchange of `function`.
fn es9_at(events: &[Value], function: &str) -> Result<usize> {
    events
        .iter()
        .position(|e| e["interface"] == "es9" && e["function"] == function)
        .with_context(|| format!("no {function} in the session"))
}

fn es10_at(events: &[Value], function: &str) -> Result<usize> {
    events
        .iter()
        .position(|e| e["interface"] == "es10" && e["function"] == function)
        .with_context(|| format!("no {function} in the session"))
}

fn request_body(events: &[Value], at: usize) -> Result<Value> {
    serde_json::from_str(
        events[at]["request"]["body"]["text"]
            .as_str()
            .unwrap_or_default(),
    )
    .context("a recorded request that is not JSON")
}

fn es10_command(events: &[Value], at: usize) -> Result<Vec<u8>> {
    Ok(hex::decode(
        events[at]["command"]["hex"].as_str().unwrap_or_default(),
    )?)
}

/// A BPP as its parts' children (two levels), rebuilt after a mutation.
struct BppParts(Vec<(Vec<u8>, Vec<Vec<u8>>)>);

impl BppParts {
    fn of(bpp: &[u8]) -> Result<Self> {
        let outer = tlv::at(bpp, &[&[0xBF, 0x36]])?;
        let mut parts = Vec::new();
        for p in outer.children() {
            let p = p?;
            let kids = p
                .children()
                .map(|c| c.map(|c| c.raw.to_vec()))
                .collect::<Result<Vec<_>, _>>()?;
            parts.push((p.tag.to_vec(), kids));
        }
        Ok(Self(parts))
    }

    fn part(&mut self, tag: &[u8]) -> Option<&mut Vec<Vec<u8>>> {
        self.0.iter_mut().find(|(t, _)| t == tag).map(|(_, k)| k)
    }

    fn der(&self) -> Vec<u8> {
        let mut inner = Vec::new();
        for (tag, kids) in &self.0 {
            push_tlv(&mut inner, tag, &kids.concat());
        }
        let mut out = Vec::new();
        push_tlv(&mut out, &[0xBF, 0x36], &inner);
        out
    }
}

fn vectors(p: &Params, pki: &Pki, events: &[Value], x: &Parts) -> Result<Vec<Vector>> {
    use rsp_asn1::notification::{BppCommandId as C, ErrorReason as R};
    let c = pki.by_curve(p.curve).context("the PKI lost its curve")?;
    // SK.EUICC, for the mutations that must pass the eUICC signature check.
    let sk_euicc = &c.euicc.as_ref().context("the PKI has no eUICC key")?.key;
    let mut out = Vec::new();
    let es9 = |at: usize, body: Value| Message::Es9 {
        function: events[at]["function"].as_str().unwrap_or_default().into(),
        path: events[at]["request"]["path"]
            .as_str()
            .unwrap_or_default()
            .into(),
        body,
    };

    // initiateAuthentication (digest §1.5 step 1).
    let at = es9_at(events, "initiateAuthentication")?;
    let mut body = request_body(events, at)?;
    body["smdpAddress"] = json!("other.smdp.example");
    out.push(Vector {
        id: "ia-smdp-address".into(),
        side: "smdp",
        step: "initiateAuthentication".into(),
        mutation: "smdpAddress names another SM-DP+",
        at,
        message: es9(at, body),
        expected: es9_expect("8.8.1", "3.8"),
    });

    // authenticateClient (digest §1.5).
    let at = es9_at(events, "authenticateClient")?;
    let base = request_body(events, at)?;
    let asr = b64(&base, "authenticateServerResponse")?;
    let with_asr = |der: &[u8]| {
        let mut b = base.clone();
        b["authenticateServerResponse"] = json!(B64.encode(der));
        b
    };
    let ok = tlv::at(&asr, &[&[0xBF, 0x38], &[0xA0]])?;
    let signed1 = tlv::child(&ok, &[0x30])?;
    let sig1 = tlv::child(&ok, &[0x5F, 0x37])?;
    let sig1_at = offset(&asr, sig1.value);
    let signed1_at = offset(&asr, signed1.raw);
    let signed1_len = signed1.raw.len();
    let challenge_at = offset(&asr, tlv::child(&signed1, &[0x84])?.value);

    let mut b = base.clone();
    let mut t = x.transaction_id.clone();
    t[0] ^= 0xFF;
    b["transactionId"] = json!(hex::encode_upper(&t));
    out.push(Vector {
        id: "ac-transaction-id".into(),
        side: "smdp",
        step: "authenticateClient".into(),
        mutation: "transactionId of no session",
        at,
        message: es9(at, b),
        expected: es9_expect("8.10.1", "3.9"),
    });
    out.push(Vector {
        id: "ac-euicc-signature1".into(),
        side: "smdp",
        step: "authenticateClient".into(),
        mutation: "euiccSignature1 with one bit flipped",
        at,
        message: es9(at, with_asr(&flip(asr.clone(), sig1_at + 10))),
        expected: es9_expect("8.1", "6.1"),
    });
    // The challenge echo changed, then signed again with SK.EUICC: the signature verifies,
    // the echo does not match (digest §1.5 authenticateClient step 6).
    let mut m = flip(asr.clone(), challenge_at);
    let s = sign(sk_euicc, &m[signed1_at..signed1_at + signed1_len])?;
    m[sig1_at..sig1_at + 64].copy_from_slice(&s);
    out.push(Vector {
        id: "ac-server-challenge".into(),
        side: "smdp",
        step: "authenticateClient".into(),
        mutation: "serverChallenge echo in euiccSigned1 changed (re-signed with SK.EUICC)",
        at,
        message: es9(at, with_asr(&m)),
        expected: es9_expect("8.1", "6.1"),
    });
    // Another eUICC of the same EUM: a valid chain, another EID than the order's.
    let eid = rsp_asn1::ids::Eid::from_bytes(&x.eid)?.to_string();
    let other = format!(
        "{}{}",
        &eid[..24],
        if &eid[24..30] == "999999" {
            "000001"
        } else {
            "999999"
        }
    );
    let other = rsp_asn1::ids::Eid::with_check_digits(&other)?;
    let issued = c.issue_euicc(&other, &mut rsp_auth::rng::rng(Some(p.seed)))?;
    let s = sign(&issued.key, signed1.raw)?;
    let certs = tlv::children(&ok, &[0x30])?;
    let mut a0 = Vec::new();
    a0.extend_from_slice(signed1.raw);
    push_tlv(&mut a0, &[0x5F, 0x37], &s);
    a0.extend_from_slice(issued.cert.der());
    a0.extend_from_slice(certs[2].raw);
    let mut inner = Vec::new();
    push_tlv(&mut inner, &[0xA0], &a0);
    let mut m = Vec::new();
    push_tlv(&mut m, &[0xBF, 0x38], &inner);
    out.push(Vector {
        id: "ac-other-eid".into(),
        side: "smdp",
        step: "authenticateClient".into(),
        mutation: "CERT.EUICC of another EID under the same EUM (re-signed with its key): the order is for the session's EID",
        at,
        message: es9(at, with_asr(&m)),
        expected: es9_expect("8.1.1", "3.8"),
    });

    // getBoundProfilePackage.
    let at = es9_at(events, "getBoundProfilePackage")?;
    let base = request_body(events, at)?;
    let pdr = b64(&base, "prepareDownloadResponse")?;
    let with_pdr = |der: &[u8]| {
        let mut b = base.clone();
        b["prepareDownloadResponse"] = json!(B64.encode(der));
        b
    };
    let ok = tlv::at(&pdr, &[&[0xBF, 0x21], &[0xA0]])?;
    let signed2 = tlv::child(&ok, &[0x30])?;
    let sig2_at = offset(&pdr, tlv::child(&ok, &[0x5F, 0x37])?.value);
    let mut b = base.clone();
    b["transactionId"] = json!(hex::encode_upper(&t));
    out.push(Vector {
        id: "gbpp-transaction-id".into(),
        side: "smdp",
        step: "getBoundProfilePackage".into(),
        mutation: "transactionId of no session",
        at,
        message: es9(at, b),
        expected: es9_expect("8.10.1", "3.9"),
    });
    out.push(Vector {
        id: "gbpp-euicc-signature2".into(),
        side: "smdp",
        step: "getBoundProfilePackage".into(),
        mutation: "euiccSignature2 with one bit flipped",
        at,
        message: es9(at, with_pdr(&flip(pdr.clone(), sig2_at + 10))),
        expected: es9_expect("8.1", "6.1"),
    });
    if let Some(h) = tlv::optional(&signed2, &[0x04]) {
        let signed2_at = offset(&pdr, signed2.raw);
        let len = signed2.raw.len();
        let mut m = flip(pdr.clone(), offset(&pdr, h.value));
        let input = [
            &m[signed2_at..signed2_at + len],
            &rsp_auth::sig::signature_tlv(&x.smdp_signature2[..].try_into()?)[..],
        ]
        .concat();
        let s = sign(sk_euicc, &input)?;
        m[sig2_at..sig2_at + 64].copy_from_slice(&s);
        out.push(Vector {
            id: "gbpp-hash-cc".into(),
            side: "smdp",
            step: "getBoundProfilePackage".into(),
            mutation: "hashCc of another confirmation code (re-signed with SK.EUICC)",
            at,
            message: es9(at, with_pdr(&m)),
            expected: es9_expect("8.2.7", "3.8"),
        });
    }

    // The eUICC's side: AuthenticateServer (SGP.22 §5.7.13, AuthenticateErrorCode).
    let at = es10_at(events, "AuthenticateServer")?;
    let cmd = es10_command(events, at)?;
    let req = tlv::at(&cmd, &[&[0xBF, 0x38]])?;
    let ss1 = tlv::child(&req, &[0x30])?;
    let ss1_at = offset(&cmd, ss1.raw);
    let ss1_len = ss1.raw.len();
    let s1_at = offset(&cmd, tlv::child(&req, &[0x5F, 0x37])?.value);
    let ch_at = offset(&cmd, tlv::child(&ss1, &[0x81])?.value);
    out.push(Vector {
        id: "as-server-signature1".into(),
        side: "euicc",
        step: "AuthenticateServer".into(),
        mutation: "serverSignature1 with one bit flipped",
        at,
        message: Message::Es10 {
            function: "AuthenticateServer".into(),
            command: flip(cmd.clone(), s1_at + 10),
        },
        expected: json!({"errorCode": 2}),
    });
    let mut m = flip(cmd.clone(), ch_at);
    let s = sign(&c.dp_auth.key, &m[ss1_at..ss1_at + ss1_len])?;
    m[s1_at..s1_at + 64].copy_from_slice(&s);
    out.push(Vector {
        id: "as-euicc-challenge".into(),
        side: "euicc",
        step: "AuthenticateServer".into(),
        mutation: "euiccChallenge echo in serverSigned1 changed (re-signed with SK.DPauth)",
        at,
        message: Message::Es10 {
            function: "AuthenticateServer".into(),
            command: m,
        },
        expected: json!({"errorCode": 6}),
    });

    // PrepareDownload (SGP.22 §5.7.5, DownloadErrorCode).
    let at = es10_at(events, "PrepareDownload")?;
    let cmd = es10_command(events, at)?;
    let req = tlv::at(&cmd, &[&[0xBF, 0x21]])?;
    let sd2 = tlv::child(&req, &[0x30])?;
    let sd2_at = offset(&cmd, sd2.raw);
    let sd2_len = sd2.raw.len();
    let s2_at = offset(&cmd, tlv::child(&req, &[0x5F, 0x37])?.value);
    let tx_at = offset(&cmd, tlv::child(&sd2, &[0x80])?.value);
    out.push(Vector {
        id: "pd-smdp-signature2".into(),
        side: "euicc",
        step: "PrepareDownload".into(),
        mutation: "smdpSignature2 with one bit flipped",
        at,
        message: Message::Es10 {
            function: "PrepareDownload".into(),
            command: flip(cmd.clone(), s2_at + 10),
        },
        expected: json!({"errorCode": 2}),
    });
    let mut m = flip(cmd.clone(), tx_at);
    let input = [
        &m[sd2_at..sd2_at + sd2_len],
        &rsp_auth::sig::signature_tlv(&x.euicc_signature1[..].try_into()?)[..],
    ]
    .concat();
    let s = sign(&c.dp_pb.key, &input)?;
    m[s2_at..s2_at + 64].copy_from_slice(&s);
    out.push(Vector {
        id: "pd-transaction-id".into(),
        side: "euicc",
        step: "PrepareDownload".into(),
        mutation: "transactionId in smdpSigned2 changed (re-signed with SK.DPpb)",
        at,
        message: Message::Es10 {
            function: "PrepareDownload".into(),
            command: m,
        },
        expected: json!({"errorCode": 5}),
    });

    // LoadBoundProfilePackage (SGP.22 §5.5, ProfileInstallationResult errorResult).
    let at = es10_at(events, "LoadBoundProfilePackage")?;
    let bpp_vector = |id: &str, mutation: &'static str, bpp: Vec<u8>, expected: Value| Vector {
        id: id.into(),
        side: "euicc",
        step: "LoadBoundProfilePackage".into(),
        mutation,
        at,
        message: Message::Bpp(bpp),
        expected,
    };
    let mut parts = BppParts::of(&x.bpp)?;
    let bf23 = parts.part(&[0xBF, 0x23]).context("no BF23")?;
    let sign_at = bf23
        .iter()
        .position(|k| k.starts_with(&[0x5F, 0x37]))
        .context("BF23 without smdpSign")?;
    let keep = bf23.clone();
    let k = bf23[sign_at].len() - 1;
    bf23[sign_at][k] ^= 0x01;
    out.push(bpp_vector(
        "bpp-smdp-sign",
        "smdpSign in BF23 with one bit flipped",
        parts.der(),
        pir_expect(C::initialiseSecureChannel, R::invalidSignature),
    ));
    let bf23 = parts.part(&[0xBF, 0x23]).context("no BF23")?;
    *bf23 = keep.clone();
    let tx = bf23
        .iter()
        .position(|k| k.first() == Some(&0x80))
        .context("BF23 without transactionId")?;
    let n = bf23[tx].len() - 1;
    bf23[tx][n] ^= 0xFF;
    let mut input: Vec<u8> = bf23[..sign_at].concat();
    push_tlv(&mut input, &[0x5F, 0x49], &x.euicc_otpk);
    let mut sig = Vec::new();
    push_tlv(&mut sig, &[0x5F, 0x37], &sign(&c.dp_pb.key, &input)?);
    bf23[sign_at] = sig;
    out.push(bpp_vector(
        "bpp-transaction-id",
        "transactionId in BF23 changed (smdpSign made again with SK.DPpb)",
        parts.der(),
        pir_expect(C::initialiseSecureChannel, R::invalidTransactionId),
    ));
    *parts.part(&[0xBF, 0x23]).context("no BF23")? = keep;

    // A segment's last C-MAC byte, per part (digest §5.2): the eUICC reports the part.
    for (tag, cmd, id) in [
        (0xA0u8, C::configureISDP, "bpp-a0-mac"),
        (0xA1, C::storeMetadata, "bpp-a1-mac"),
        (0xA2, C::replaceSessionKeys, "bpp-a2-mac"),
        (0xA3, C::loadProfileElements, "bpp-a3-mac"),
    ] {
        let mut m = BppParts::of(&x.bpp)?;
        let Some(kids) = m.part(&[tag]) else { continue };
        let last = kids[0].len() - 1;
        kids[0][last] ^= 0x01;
        out.push(bpp_vector(
            id,
            "the first segment's C-MAC with one bit flipped",
            m.der(),
            pir_expect(cmd, R::scp03tSecurityError),
        ));
    }
    let mut m = BppParts::of(&x.bpp)?;
    let kids = m.part(&[0xA3]).context("no A3")?;
    let seg = Tlv::read_exact(&kids[0])?;
    let mut cut = Vec::new();
    push_tlv(&mut cut, seg.tag, &seg.value[..seg.value.len() - 1]);
    kids[0] = cut;
    out.push(bpp_vector(
        "bpp-a3-truncated",
        "the first profile segment one byte short (its C-MAC cut)",
        m.der(),
        // Its ciphertext is no longer whole AES blocks before the 8-byte C-MAC: a malformed
        // SCP03t TLV, found before any MAC is computed (SGP.22 §2.5.4, digest §5.2).
        pir_expect(C::loadProfileElements, R::scp03tStructureError),
    ));
    let mut m = BppParts::of(&x.bpp)?;
    let kids = m.part(&[0xA3]).context("no A3")?;
    if kids.len() >= 2 {
        kids.swap(0, 1);
        out.push(bpp_vector(
            "bpp-a3-reordered",
            "the first two profile segments swapped (counter and MAC chain out of order)",
            m.der(),
            pir_expect(C::loadProfileElements, R::scp03tSecurityError),
        ));
    }
    Ok(out)
}

/// Runs one vector (a file's JSON) against the current code: its answer.
pub async fn run(p: &Params, events: &[Value], v: &Value) -> Result<Value> {
    let at = v["replayEvents"]
        .as_u64()
        .context("a vector without replayEvents")? as usize;
    ensure!(at <= events.len(), "replayEvents beyond the session");
    match v["side"].as_str() {
        Some("smdp") => {
            let rig = Rig::start(p).await?;
            let out = async {
                crate::replay::server_prefix(&rig, events, at).await?;
                let r = &v["request"];
                let function = r["function"].as_str().unwrap_or_default();
                let (status, body) = rig
                    .client()?
                    .post(
                        crate::replay::function(function),
                        &rig.address,
                        r["path"].as_str().context("a request without path")?,
                        r["body"].as_str().unwrap_or_default().as_bytes().to_vec(),
                    )
                    .await?;
                Ok(es9_answer(status, &body))
            }
            .await;
            rig.stop().await;
            out
        }
        Some("euicc") => {
            let dir = rig::PkiDir::new(&p.pki)?;
            let pki = Pki::load(&dir.path)?;
            let mut card = rig::card(&pki, p)?;
            crate::replay::euicc_prefix(&mut card, events, at)?;
            if let Some(bpp) = v["boundProfilePackage"].as_str() {
                let pir = card.load_bpp(&hex::decode(bpp)?)?;
                return Ok(pir_answer(&pir));
            }
            let c = &v["command"];
            let der = hex::decode(c["hex"].as_str().unwrap_or_default())?;
            let function = crate::replay::function(c["function"].as_str().unwrap_or_default());
            match card.command(function, &der) {
                Ok(r) => Ok(es10_answer(&r)),
                Err(lpa::Error::Sw { sw, .. }) => Ok(json!({"sw": format!("{sw:04X}")})),
                Err(e) => Err(e.into()),
            }
        }
        other => bail!("a vector for side {other:?}"),
    }
}

/// The session's negative vectors, each run and checked against SGP.22's answer.
pub async fn make(p: &Params, events: &[Event]) -> Result<Vec<Value>> {
    let json_events = lpa::record::to_json(events)["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let x = Parts::of(events)?;
    let dir = rig::PkiDir::new(&p.pki)?;
    let pki = Pki::load(&dir.path)?;
    let mut out = Vec::new();
    for v in vectors(p, &pki, &json_events, &x)? {
        let mut j = v.json();
        let answer = run(p, &json_events, &j)
            .await
            .with_context(|| format!("negative vector {}", v.id))?;
        ensure!(
            answer == v.expected,
            "negative vector {} ({}: {}): SGP.22 wants {}, this code answers {answer}",
            v.id,
            v.step,
            v.mutation,
            v.expected
        );
        j["answer"] = answer;
        out.push(j);
    }
    Ok(out)
}

/// Every negative vector of a session file, run again: the ones whose answer changed.
pub async fn check(doc: &Value) -> Result<(usize, Vec<String>)> {
    let events = crate::session::events_of(doc)?;
    let p = Params::from_json(&doc["parameters"])?;
    let mut diffs = Vec::new();
    let vectors = doc["negativeVectors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in &vectors {
        let answer = run(&p, events, v).await?;
        if answer != v["expected"] || answer != v["answer"] {
            diffs.push(format!(
                "negative vector {}: expected {}, recorded {}, now {answer}",
                v["id"], v["expected"], v["answer"]
            ));
        }
    }
    Ok((vectors.len(), diffs))
}
