//! `smdp record`: one download session, run on a [`Rig`], written as one JSON document that
//! names every value in SGP.22 terms and says where SGP.22 defines it
//! (`testdata/sessions/README.md` is the schema's prose).

use anyhow::{bail, ensure, Context, Result};
use base64::Engine as _;
use lpa::record::{Es10Record, Es9Record, Event, Recording};
use rsp_auth::cert::Cert;
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::{Backend, PublicKey};
use serde_json::{json, Value};
use smdp_core::store::Store;

use crate::params::Params;
use crate::rig::Rig;
use crate::tlv;

/// A recorded session.
pub struct Recorded {
    pub document: Value,
    pub events: Vec<Event>,
}

/// Runs the session of `p` (download, then the install notification) and documents it; the
/// negative vectors are made and checked against their expected answers too.
pub async fn record(p: &Params) -> Result<Recorded> {
    let rig = Rig::start(p).await?;
    let events = run_download(&rig).await;
    let out = match events {
        Ok((events, otsk_dp)) => document(&rig, &events, &otsk_dp).map(|d| (d, events)),
        Err(e) => Err(e),
    };
    rig.stop().await;
    let (mut document, events) = out?;
    document["negativeVectors"] = Value::Array(crate::negative::make(p, &events).await?);
    Ok(Recorded { document, events })
}

/// The download and its notification, recorded; otSK.DP as the SM-DP+ kept it for the binding.
async fn run_download(rig: &Rig) -> Result<(Vec<Event>, [u8; 32])> {
    let rec = Recording::default();
    let mut card = rig.card()?;
    card.record(rec.clone());
    let client = rig.client()?.record(rec.clone());
    let order = lpa::download::Order {
        address: rig.address.clone(),
        matching_id: rig.order.matching_id.clone(),
        confirmation_code: rig.params.confirmation_code.clone(),
    };
    lpa::download::download(&mut card, &client, &order, |_| {})
        .await
        .context("the download")?;
    // Read before the notification: the binding's secrets go once the profile is installed.
    let bound = rig
        .store
        .profile(rig.order.id)?
        .context("the order is gone")?;
    let otsk_dp: [u8; 32] = bound
        .bound_otsk
        .as_deref()
        .and_then(|k| k.try_into().ok())
        .context("the SM-DP+ kept no otSK.DP for the binding")?;
    for s in lpa::notifications::process(&mut card, &client, true).await? {
        if let Err(e) = s.outcome {
            bail!("the install notification: {e}");
        }
    }
    Ok((rec.events(), otsk_dp))
}

/// The ES9+ exchange of `function` (the first).
pub fn es9<'a>(events: &'a [Event], function: &str) -> Result<&'a Es9Record> {
    events
        .iter()
        .find_map(|e| match e {
            Event::Es9(r) if r.function == function => Some(r),
            _ => None,
        })
        .with_context(|| format!("the session has no {function}"))
}

/// The ES10 commands of `function`, in order.
pub fn es10<'a>(events: &'a [Event], function: &str) -> Vec<&'a Es10Record> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Es10(r) if r.function == function => Some(r),
            _ => None,
        })
        .collect()
}

pub fn body(b: &[u8]) -> Result<Value> {
    serde_json::from_slice(b).context("an ES9+ body that is not JSON")
}

/// A base64 field of an ES9+ body.
pub fn b64(v: &Value, field: &str) -> Result<Vec<u8>> {
    let s = v[field]
        .as_str()
        .with_context(|| format!("no {field} in {v}"))?;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .with_context(|| format!("{field} is not base64"))
}

fn value(name: &str, reference: &str, bytes: &[u8], note: Option<&str>) -> Value {
    let mut v = json!({"name": name, "reference": reference, "hex": hex::encode(bytes)});
    if let Some(n) = note {
        v["note"] = json!(n);
    }
    v
}

struct Signature<'a> {
    name: &'static str,
    key: &'static str,
    certificate: &'static str,
    reference: &'static str,
    signed: Vec<u8>,
    signature: &'a [u8],
    pk: &'a PublicKey,
}

impl Signature<'_> {
    fn json(&self) -> Result<Value> {
        let verified = self
            .pk
            .verify_raw(&self.signed, self.signature, Backend::RustCrypto)
            .is_ok();
        ensure!(
            verified,
            "{} does not verify with {}",
            self.name,
            self.certificate
        );
        Ok(json!({
            "name": self.name,
            "key": self.key,
            "certificate": self.certificate,
            "reference": self.reference,
            "algorithm": "ECDSA with SHA-256 over signedData; signature = r ‖ s (digest §4.1)",
            "signedData": hex::encode(&self.signed),
            "signature": hex::encode(self.signature),
            "verified": verified,
        }))
    }
}

/// Everything the session's messages hold, taken apart (raw TLVs, as on the wire).
pub struct Parts {
    pub euicc_challenge: Vec<u8>,
    pub transaction_id: Vec<u8>,
    pub server_signed1: Vec<u8>,
    pub server_signature1: Vec<u8>,
    pub server_challenge: Vec<u8>,
    pub cert_dpauth: Vec<u8>,
    pub euicc_signed1: Vec<u8>,
    pub euicc_signature1: Vec<u8>,
    pub cert_euicc: Vec<u8>,
    pub cert_eum: Vec<u8>,
    pub smdp_signed2: Vec<u8>,
    pub smdp_signature2: Vec<u8>,
    pub cert_dppb: Vec<u8>,
    pub euicc_signed2: Vec<u8>,
    pub euicc_signature2: Vec<u8>,
    pub euicc_otpk: Vec<u8>,
    pub hash_cc: Option<Vec<u8>>,
    pub bpp: Vec<u8>,
    pub bf23: Vec<u8>,
    pub dp_otpk: Vec<u8>,
    pub host_id: Vec<u8>,
    pub smdp_sign: Vec<u8>,
    pub pir: Vec<u8>,
    pub pir_data: Vec<u8>,
    pub euicc_sign_pir: Vec<u8>,
    pub notification: Vec<u8>,
    pub eid: [u8; 16],
    pub otsk_euicc: [u8; 32],
}

impl Parts {
    pub fn of(events: &[Event]) -> Result<Self> {
        let both = |function: &str| -> Result<(Value, Value)> {
            let r = es9(events, function)?;
            Ok((body(&r.request_body)?, body(&r.response_body)?))
        };
        let (ia_req, ia) = both("initiateAuthentication")?;
        let (ac_req, ac) = both("authenticateClient")?;
        let (gb_req, gb) = both("getBoundProfilePackage")?;
        let hn_req = body(&es9(events, "handleNotification")?.request_body)?;

        let server_signed1 = b64(&ia, "serverSigned1")?;
        let ss1 = tlv::at(&server_signed1, &[&[0x30]])?;
        let server_challenge = tlv::child(&ss1, &[0x84])?.value.to_vec();
        let asr = b64(&ac_req, "authenticateServerResponse")?;
        let ok = tlv::at(&asr, &[&[0xBF, 0x38], &[0xA0]])?;
        let certs = tlv::children(&ok, &[0x30])?;
        ensure!(
            certs.len() == 3,
            "authenticateServerResponseOk: euiccSigned1, CERT.EUICC, CERT.EUM expected"
        );
        let pdr = b64(&gb_req, "prepareDownloadResponse")?;
        let pd_ok = tlv::at(&pdr, &[&[0xBF, 0x21], &[0xA0]])?;
        let es2 = tlv::child(&pd_ok, &[0x30])?;
        let bpp = b64(&gb, "boundProfilePackage")?;
        let bf23 = tlv::at(&bpp, &[&[0xBF, 0x36], &[0xBF, 0x23]])?;
        let pir = es10(events, "LoadBoundProfilePackage")
            .last()
            .map(|r| r.response.clone())
            .context("the session has no LoadBoundProfilePackage")?;
        let pir_t = tlv::at(&pir, &[&[0xBF, 0x37]])?;
        let (eid, otsk_euicc) = events
            .iter()
            .find_map(|e| match e {
                Event::EuiccSecret { eid, otsk } => Some((*eid.as_bytes(), *otsk)),
                _ => None,
            })
            .context("the session holds no eUICC secret")?;
        Ok(Self {
            euicc_challenge: b64(&ia_req, "euiccChallenge")?,
            transaction_id: hex::decode(ia["transactionId"].as_str().unwrap_or_default())
                .context("initiateAuthentication: transactionId is not hex")?,
            server_signature1: sig_value(&b64(&ia, "serverSignature1")?)?,
            server_signed1: server_signed1.clone(),
            server_challenge,
            cert_dpauth: b64(&ia, "serverCertificate")?,
            euicc_signed1: certs[0].raw.to_vec(),
            euicc_signature1: tlv::child(&ok, &[0x5F, 0x37])?.value.to_vec(),
            cert_euicc: certs[1].raw.to_vec(),
            cert_eum: certs[2].raw.to_vec(),
            smdp_signed2: b64(&ac, "smdpSigned2")?,
            smdp_signature2: sig_value(&b64(&ac, "smdpSignature2")?)?,
            cert_dppb: b64(&ac, "smdpCertificate")?,
            euicc_signed2: es2.raw.to_vec(),
            euicc_signature2: tlv::child(&pd_ok, &[0x5F, 0x37])?.value.to_vec(),
            euicc_otpk: tlv::child(&es2, &[0x5F, 0x49])?.value.to_vec(),
            hash_cc: tlv::optional(&es2, &[0x04]).map(|t| t.value.to_vec()),
            dp_otpk: tlv::child(&bf23, &[0x5F, 0x49])?.value.to_vec(),
            host_id: tlv::child(&tlv::child(&bf23, &[0xA6])?, &[0x84])?
                .value
                .to_vec(),
            smdp_sign: tlv::child(&bf23, &[0x5F, 0x37])?.value.to_vec(),
            bf23: bf23.raw.to_vec(),
            bpp,
            pir_data: tlv::child(&pir_t, &[0xBF, 0x27])?.raw.to_vec(),
            euicc_sign_pir: tlv::child(&pir_t, &[0x5F, 0x37])?.value.to_vec(),
            pir,
            notification: b64(&hn_req, "pendingNotification")?,
            eid,
            otsk_euicc,
        })
    }
}

/// The value of a `5F37 40 ‖ r‖s` TLV (the JSON binding carries the whole TLV).
fn sig_value(tlv_bytes: &[u8]) -> Result<Vec<u8>> {
    Ok(tlv::at(tlv_bytes, &[&[0x5F, 0x37]])?.value.to_vec())
}

fn document(rig: &Rig, events: &[Event], otsk_dp: &[u8; 32]) -> Result<Value> {
    let p = &rig.params;
    let x = Parts::of(events)?;
    let c = rig
        .pki
        .by_curve(p.curve)
        .context("the PKI lost its curve")?;
    let cert = |der: &[u8], what: &str| {
        Cert::from_der(der).with_context(|| format!("{what} is not a certificate"))
    };
    let dpauth = cert(&x.cert_dpauth, "serverCertificate")?;
    let dppb = cert(&x.cert_dppb, "smdpCertificate")?;
    let euicc = cert(&x.cert_euicc, "CERT.EUICC")?;

    // ECKA both ways (digest §5.1): the two halves must meet.
    let dp_key = EphemeralKey::from_scalar(p.curve, *otsk_dp)?;
    ensure!(
        dp_key.public_point()[..] == x.dp_otpk[..],
        "otSK.DP does not make BF23's otPK.DP"
    );
    let shs = dp_key.shared_secret(&x.euicc_otpk, Backend::RustCrypto)?;
    let euicc_key = EphemeralKey::from_scalar(p.curve, x.otsk_euicc)?;
    ensure!(
        euicc_key.public_point()[..] == x.euicc_otpk[..],
        "otSK.EUICC does not make euiccSigned2's otPK.EUICC"
    );
    ensure!(
        euicc_key.shared_secret(&x.dp_otpk, Backend::RustCrypto)? == shs,
        "ECDH(otSK.EUICC, otPK.DP) ≠ ECDH(otSK.DP, otPK.EUICC)"
    );

    // The eUICC's path through the BPP, keeping every segment before and after protection.
    let report = rsp_bpp::check::check(
        &x.bpp,
        &rsp_bpp::check::Inputs {
            secret: rsp_bpp::check::Secret::EuiccOtsk(x.otsk_euicc),
            curve: p.curve,
            eid: x.eid,
            euicc_otpk: None,
            dp_pb: Some(dppb.public_key().clone()),
            transaction_id: rsp_asn1::TransactionId::new(x.transaction_id.clone()).ok(),
            backend: Backend::RustCrypto,
        },
    );
    if let Some((step, f)) = report.failure() {
        bail!(
            "our own BPP fails its check at {}: {:?}/{:?} {}",
            step.part,
            f.bpp_command_id,
            f.error_reason,
            f.detail
        );
    }
    let keys = report.session_keys.as_ref().context("no session keys")?;
    ensure!(
        report.shared_secret == Some(shs),
        "the check derived another ShS"
    );

    let mut values = vec![
        value("euiccChallenge", "SGP.22 §3.1.2, §5.7.7 GetEUICCChallenge", &x.euicc_challenge, None),
        value("transactionId", "SGP.22 §5.6.1 initiateAuthentication", &x.transaction_id, None),
        value("serverChallenge", "SGP.22 §5.6.1 (serverSigned1)", &x.server_challenge, None),
        value("EID", "SGP.22 §4.5.2.1.0.2 (CERT.EUICC subject serialNumber)", &x.eid, None),
        value("otPK.EUICC.ECKA", "SGP.22 §5.7.5 PrepareDownload (euiccSigned2 5F49)", &x.euicc_otpk, None),
        value("otSK.EUICC.ECKA", "SGP.22 §5.7.5 (the card's, kept until the BPP is loaded)", &x.otsk_euicc, None),
        value("otPK.DP.ECKA", "SGP.22 §5.5.1 InitialiseSecureChannel (BF23 5F49)", &x.dp_otpk, None),
        value("otSK.DP.ECKA", "SGP.22 §3.1.3.2 (the SM-DP+'s, for this binding)", otsk_dp, None),
        value("ShS", "SGP.22 §2.6.7.1; digest §5.1: x-coordinate of ECDH(otSK.DP, otPK.EUICC) = ECDH(otSK.EUICC, otPK.DP)", &shs, None),
        value("hostId", "SGP.22 §5.5.1 (BF23 CRT 84)", &x.host_id, None),
        value("SharedInfo", "SGP.22 §2.6.7.1; digest §5.1: 88 ‖ 10 ‖ len(hostId) ‖ hostId ‖ 10 ‖ EID", &rsp_bpp::kdf::shared_info(&x.host_id, &x.eid), None),
        value("initialMCV", "SGP.22 §2.6.7.1; digest §5.1: X9.63 KDF(ShS, SharedInfo) bytes 0–15", &keys.initial_mcv, None),
        value("S-ENC", "digest §5.1: KDF bytes 16–31", &keys.s_enc, None),
        value("S-MAC", "digest §5.1: KDF bytes 32–47", &keys.s_mac, None),
    ];
    values.push(json!({
        "name": "S-DEK",
        "reference": "SGP.22 §2.6.7.1",
        "hex": null,
        "note": "SGP.22's KDF makes the initial MCV, S-ENC and S-MAC only (48 bytes, digest §5.1): SCP03t has no data encryption key, unlike SCP03",
    }));
    if let Some(ppk) = &report.ppk {
        values.push(value(
            "PPK-initialMCV",
            "SGP.22 §2.5.4, §5.5.3 ReplaceSessionKeys (BF26 80)",
            &ppk.initial_mcv,
            None,
        ));
        values.push(value(
            "PPK-ENC",
            "SGP.22 §5.5.3 (BF26 81)",
            &ppk.s_enc,
            None,
        ));
        values.push(value(
            "PPK-MAC",
            "SGP.22 §5.5.3 (BF26 82)",
            &ppk.s_mac,
            None,
        ));
    }
    if let Some(cc) = &p.confirmation_code {
        let want = rsp_auth::sig::hash_cc(cc.as_bytes(), &x.transaction_id);
        ensure!(
            x.hash_cc.as_deref() == Some(&want[..]),
            "euiccSigned2's hashCc is not SHA-256(SHA-256(code) ‖ transactionId)"
        );
        values.push(value(
            "hashCc",
            "SGP.22 §3.1.3.2; digest §4.3: SHA-256(SHA-256(confirmation code as typed) ‖ transactionId octets)",
            &want,
            None,
        ));
    }

    let isc: rsp_asn1::raw::Signed<rsp_asn1::download::InitialiseSecureChannelRequest> =
        rsp_asn1::raw::Signed::from_der(&x.bf23).context("BF23")?;
    let sigs = [
        Signature {
            name: "serverSignature1",
            key: "SK.DPauth.ECDSA",
            certificate: "CERT.DPauth.ECDSA",
            reference: "SGP.22 §5.6.1; digest §4.1: serverSigned1",
            signed: x.server_signed1.clone(),
            signature: &x.server_signature1,
            pk: dpauth.public_key(),
        },
        Signature {
            name: "euiccSignature1",
            key: "SK.EUICC.ECDSA",
            certificate: "CERT.EUICC.ECDSA",
            reference: "SGP.22 §5.7.13 AuthenticateServer; digest §4.1: euiccSigned1 as received",
            signed: x.euicc_signed1.clone(),
            signature: &x.euicc_signature1,
            pk: euicc.public_key(),
        },
        Signature {
            name: "smdpSignature2",
            key: "SK.DPpb.ECDSA",
            certificate: "CERT.DPpb.ECDSA",
            reference: "SGP.22 §5.6.2 authenticateClient; digest §4.1: smdpSigned2 ‖ 5F37 40 ‖ euiccSignature1",
            signed: [&x.smdp_signed2[..], &rsp_auth::sig::signature_tlv(&arr(&x.euicc_signature1)?)].concat(),
            signature: &x.smdp_signature2,
            pk: dppb.public_key(),
        },
        Signature {
            name: "euiccSignature2",
            key: "SK.EUICC.ECDSA",
            certificate: "CERT.EUICC.ECDSA",
            reference: "SGP.22 §5.7.5 PrepareDownload; digest §4.1: euiccSigned2 ‖ 5F37 40 ‖ smdpSignature2",
            signed: [&x.euicc_signed2[..], &rsp_auth::sig::signature_tlv(&arr(&x.smdp_signature2)?)].concat(),
            signature: &x.euicc_signature2,
            pk: euicc.public_key(),
        },
        Signature {
            name: "smdpSign",
            key: "SK.DPpb.ECDSA",
            certificate: "CERT.DPpb.ECDSA",
            reference: "SGP.22 §5.5.1 InitialiseSecureChannel; digest §4.1: BF23's TLVs before smdpSign ‖ 5F49 41 ‖ otPK.EUICC",
            signed: rsp_auth::sig::input::smdp_sign(&isc, &x.euicc_otpk)?,
            signature: &x.smdp_sign,
            pk: dppb.public_key(),
        },
        Signature {
            name: "euiccSignPIR",
            key: "SK.EUICC.ECDSA",
            certificate: "CERT.EUICC.ECDSA",
            reference: "SGP.22 §5.5 (ProfileInstallationResult); digest §4.1: the BF27 TLV",
            signed: x.pir_data.clone(),
            signature: &x.euicc_sign_pir,
            pk: euicc.public_key(),
        },
    ];
    let signatures = sigs
        .iter()
        .map(Signature::json)
        .collect::<Result<Vec<_>>>()?;

    let mut certificates = vec![
        json!({"name": "CERT.CI.ECDSA", "reference": "SGP.22 §4.5.2.1", "der": hex::encode(c.ci.der())}),
        json!({"name": "CERT.EUM.ECDSA", "reference": "SGP.22 §4.5.2.1.0.1", "der": hex::encode(&x.cert_eum)}),
        json!({"name": "CERT.EUICC.ECDSA", "reference": "SGP.22 §4.5.2.1.0.2", "der": hex::encode(&x.cert_euicc)}),
        json!({"name": "CERT.DPauth.ECDSA", "reference": "SGP.22 §4.5.2.1.0.3", "der": hex::encode(&x.cert_dpauth)}),
        json!({"name": "CERT.DPpb.ECDSA", "reference": "SGP.22 §4.5.2.1.0.4", "der": hex::encode(&x.cert_dppb)}),
    ];
    if let Some(tls) = &c.dp_tls {
        certificates.push(json!({"name": "CERT.DP.TLS", "reference": "SGP.22 §4.5.2.1.0.5 (ES9+ TLS server certificate)", "der": hex::encode(tls.cert.der())}));
    }

    let shared = rsp_shared::dir();
    let before = p.profile.load(shared.as_deref())?.to_der();
    let after = rig
        .store
        .package(rig.order.id)?
        .context("the order has no personalised package")?;
    ensure!(
        report.profile.as_deref() == Some(&after[..]),
        "the BPP's segments do not reassemble the order's profile package"
    );
    let segments: Vec<Value> = report
        .segments
        .iter()
        .map(|s| {
            json!({"part": s.part, "protected": hex::encode(&s.protected),
                   "plaintext": hex::encode(&s.plaintext)})
        })
        .collect();
    ensure!(
        x.notification == x.pir,
        "the install notification is not the card's PIR"
    );

    Ok(json!({
        "$schema": "session.schema.json",
        "format": crate::FORMAT,
        "generator": {"command": p.command_line(), "version": env!("CARGO_PKG_VERSION")},
        "parameters": p.to_json(),
        "order": {
            "smdpAddress": rig.address,
            "matchingId": rig.order.matching_id,
            "activationCode": format!("LPA:1${}${}{}", rig.address,
                rig.order.matching_id.clone().unwrap_or_default(),
                if p.confirmation_code.is_some() { "$$1" } else { "" }),
            "eid": hex::encode(x.eid),
            "iccid": rig.order.iccid,
        },
        "certificates": certificates,
        "values": values,
        "signatures": signatures,
        "boundProfilePackage": {
            "reference": "SGP.22 §2.5.4, §5.5; digest §5.2–5.3",
            "der": hex::encode(&x.bpp),
            "initialiseSecureChannelRequest": hex::encode(&x.bf23),
            "segments": segments,
        },
        "profilePackage": {
            "reference": "SIMalliance eUICC Profile Package (SAIP), digest §6",
            "template": p.profile.to_string(),
            "beforePersonalisation": hex::encode(before),
            "afterPersonalisation": hex::encode(&after),
        },
        "result": {
            "reference": "SGP.22 §5.5 ProfileInstallationResult; §3.5 handleNotification",
            "profileInstallationResult": hex::encode(&x.pir),
            "notification": hex::encode(&x.notification),
        },
        "events": lpa::record::to_json(events)["events"],
    }))
}

fn arr(v: &[u8]) -> Result<[u8; 64]> {
    v.try_into().context("a signature that is not 64 bytes")
}

/// Reads a session file's events back (what replay feeds each side).
pub fn events_of(doc: &Value) -> Result<&Vec<Value>> {
    ensure!(
        doc["format"] == crate::FORMAT,
        "not a {} file (format {})",
        crate::FORMAT,
        doc["format"]
    );
    doc["events"]
        .as_array()
        .context("the session has no events")
}

/// A session document as written to disk: pretty JSON, one final newline.
pub fn to_file(doc: &Value) -> Result<Vec<u8>> {
    let mut v = serde_json::to_vec_pretty(doc)?;
    v.push(b'\n');
    Ok(v)
}
