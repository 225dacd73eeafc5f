//! Checks a Bound Profile Package built by any SM-DP+, given the eUICC-side secrets, part by
//! part in the order an eUICC processes it, and explains the first failure in SGP.22 terms
//! (the bppCommandId and errorReason the eUICC would put in its ProfileInstallationResult).
//!
//! Unlike [`crate::bpp::unwrap`] (the eUICC's path, which stops at the first error and keeps
//! nothing), the check records each step, the values it derived (ShS, session keys, each
//! segment before protection) and rules a lenient eUICC might not enforce: DER, the ≤1020-byte
//! segment rule (SGP.22 §2.5.3), the CRT values, the otPK format.

use rsp_asn1::download::{
    BoundProfilePackage, ConfigureISDPRequest, RemoteOpId, ReplaceSessionKeysRequest,
    StoreMetadataRequest,
};
use rsp_asn1::notification::{BppCommandId, ErrorReason};
use rsp_asn1::TransactionId;
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::sig::{input, raw_signature};
use rsp_auth::{Backend, Curve, PublicKey};

use crate::bsp::{Bsp, Engine, SegmentError, MAX_SEGMENT_TLV};
use crate::kdf::{derive_session_keys, SessionKeys, KEY_LENGTH, KEY_TYPE_AES};

/// The eUICC-side secret the session keys come from, whichever the user has.
#[derive(Clone)]
pub enum Secret {
    /// otSK.EUICC: ShS = ECDH(otSK.EUICC, otPK.DP of BF23).
    EuiccOtsk([u8; 32]),
    /// otSK.DP, the other half of the same ECDH: ShS = ECDH(otSK.DP, otPK.EUICC), so
    /// [`Inputs::euicc_otpk`] is needed.
    DpOtsk([u8; 32]),
    /// ShS itself (the x-coordinate, 32 bytes).
    SharedSecret([u8; 32]),
    /// The KDF's output: skips the ECDH and the KDF.
    SessionKeys(SessionKeys),
}

/// What the check knows besides the BPP.
pub struct Inputs {
    pub secret: Secret,
    pub curve: Curve,
    /// The EID the keys were derived for (SharedInfo).
    pub eid: [u8; 16],
    /// otPK.EUICC of the session (from euiccSigned2): part of smdpSign's input. Derived from
    /// the secret when that is otSK.EUICC.
    pub euicc_otpk: Option<Vec<u8>>,
    /// PK.DPpb (from CERT.DPpb): without it smdpSign is not checked.
    pub dp_pb: Option<PublicKey>,
    /// The session's transaction ID: without it BF23's is taken as given.
    pub transaction_id: Option<TransactionId>,
    pub backend: Backend,
}

/// One step of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Where in the BPP: `BF23`, `A0 87[0]`, `A3 86[12]`, …
    pub part: String,
    /// The SGP.22 section (or digest section) that defines what was checked.
    pub reference: &'static str,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed(String),
    /// Not checked, and why (an input was not given).
    Skipped(String),
    Failed(Failure),
}

/// The first failure, as the eUICC reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub bpp_command_id: BppCommandId,
    pub error_reason: ErrorReason,
    pub detail: String,
}

/// One segment of the BPP, before and after its protection (SGP.22 §2.5.4, digest §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// `A0 87[0]`, `A3 86[12]`, …
    pub part: String,
    /// The TLV as in the BPP (`86 L ‖ ciphertext ‖ C-MAC`, or `88 L ‖ plaintext ‖ C-MAC`).
    pub protected: Vec<u8>,
    /// What it carries: decrypted, without padding and MAC.
    pub plaintext: Vec<u8>,
}

/// Everything the check found and derived.
#[derive(Default)]
pub struct Report {
    pub steps: Vec<Step>,
    /// ShS, when it was derived (not given as session keys).
    pub shared_secret: Option<[u8; 32]>,
    pub session_keys: Option<SessionKeys>,
    /// PPK-ENC, PPK-MAC, initial MCV from ReplaceSessionKeys (A2), when present.
    pub ppk: Option<SessionKeys>,
    /// Each opened segment, in order.
    pub segments: Vec<Segment>,
    /// The reassembled profile package, when every segment opened.
    pub profile: Option<Vec<u8>>,
}

impl Report {
    /// The first failure, if any (the check stops there).
    pub fn failure(&self) -> Option<(&Step, &Failure)> {
        self.steps.iter().find_map(|s| match &s.outcome {
            Outcome::Failed(f) => Some((s, f)),
            _ => None,
        })
    }

    fn pass(&mut self, part: impl Into<String>, reference: &'static str, what: impl Into<String>) {
        self.push(part, reference, Outcome::Passed(what.into()));
    }

    fn skip(&mut self, part: impl Into<String>, reference: &'static str, why: impl Into<String>) {
        self.push(part, reference, Outcome::Skipped(why.into()));
    }

    fn push(&mut self, part: impl Into<String>, reference: &'static str, outcome: Outcome) {
        self.steps.push(Step {
            part: part.into(),
            reference,
            outcome,
        });
    }
}

/// A failed step: recorded, and the check stops.
struct Stop;

fn fail(
    r: &mut Report,
    part: &str,
    reference: &'static str,
    cmd: BppCommandId,
    reason: ErrorReason,
    detail: String,
) -> Stop {
    r.push(
        part,
        reference,
        Outcome::Failed(Failure {
            bpp_command_id: cmd,
            error_reason: reason,
            detail,
        }),
    );
    Stop
}

// Where each rule is defined: SGP.22 where the digest gives the section, else the digest
// section that transcribes the algorithm (../shared/spec/sgp22-digest.md).
const REF_BPP: &str = "SGP.22 §2.5.4 BoundProfilePackage";
const REF_SIZE: &str = "SGP.22 §2.5.3: segments of at most 1020 bytes";
const REF_ISC: &str = "SGP.22 §2.5.4 InitialiseSecureChannelRequest";
const REF_SIGN: &str = "SGP.22 §2.5.4 smdpSign (input: digest §4.1)";
const REF_KDF: &str = "SGP.22 BSP keys: ECKA and X9.63 KDF (digest §5.1)";
const REF_BSP: &str = "SGP.22 BSP segment encryption and MAC (digest §5.2)";
const REF_PPK: &str = "SGP.22 §2.5.4 ReplaceSessionKeys (digest §5.3)";

/// Checks `der`, a BoundProfilePackage (BF36) as sent, against `inputs`.
pub fn check(der: &[u8], inputs: &Inputs) -> Report {
    let mut r = Report::default();
    let _ = run(der, inputs, &mut r);
    r
}

fn run(der: &[u8], inputs: &Inputs, r: &mut Report) -> Result<(), Stop> {
    use BppCommandId as C;
    use ErrorReason as E;
    // Structure: DER, as SGP.22 requires of every RSP message; an eUICC that parses BER
    // loosely would accept a re-encoding the signature does not cover.
    let bpp: BoundProfilePackage = match rsp_asn1::decode(der) {
        Ok(b) => b,
        Err(e) => {
            return Err(fail(
                r,
                "BF36",
                REF_BPP,
                C::initialiseSecureChannel,
                E::incorrectInputValues,
                format!("not a DER BoundProfilePackage: {e}"),
            ))
        }
    };
    match rsp_asn1::encode(&bpp) {
        Ok(again) if again == der => r.pass("BF36", REF_BPP, format!("DER, {} bytes", der.len())),
        _ => {
            return Err(fail(
                r,
                "BF36",
                REF_BPP,
                C::initialiseSecureChannel,
                E::incorrectInputValues,
                "decodes, but is not the DER encoding of what it holds".into(),
            ))
        }
    }
    let parts: [(&str, BppCommandId, Vec<usize>); 4] = [
        (
            "A0 87",
            C::configureISDP,
            bpp.first_sequence_of87.iter().map(|s| s.0.len()).collect(),
        ),
        (
            "A1 88",
            C::storeMetadata,
            bpp.sequence_of88.iter().map(|s| s.0.len()).collect(),
        ),
        (
            "A2 87",
            C::replaceSessionKeys,
            bpp.second_sequence_of87
                .iter()
                .flatten()
                .map(|s| s.0.len())
                .collect(),
        ),
        (
            "A3 86",
            C::loadProfileElements,
            bpp.sequence_of86.iter().map(|s| s.0.len()).collect(),
        ),
    ];
    for (name, cmd, lengths) in &parts {
        for (i, len) in lengths.iter().enumerate() {
            let tlv = 1 + length_of_length(*len) + len;
            if tlv > MAX_SEGMENT_TLV {
                return Err(fail(
                    r,
                    &format!("{name}[{i}]"),
                    REF_SIZE,
                    *cmd,
                    E::scp03tStructureError,
                    format!(
                        "a {tlv}-byte segment TLV: at most {MAX_SEGMENT_TLV} (1007 plaintext \
                         bytes per encrypted segment)"
                    ),
                ));
            }
        }
    }
    r.pass("segments", REF_SIZE, "every segment TLV within 1020 bytes");

    // BF23.
    let isc_signed = &bpp.initialise_secure_channel_request;
    let isc = isc_signed.value();
    if isc.remote_op_id != RemoteOpId::installBoundProfilePackage {
        return Err(fail(
            r,
            "BF23 82",
            REF_ISC,
            C::initialiseSecureChannel,
            E::unsupportedRemoteOperationType,
            format!("remoteOpId {:?}", isc.remote_op_id),
        ));
    }
    let crt = &isc.control_ref_template;
    let host_id = crt.host_id.as_bytes();
    if crt.key_type.as_bytes() != [KEY_TYPE_AES]
        || crt.key_len.as_bytes() != [KEY_LENGTH]
        || host_id.is_empty()
        || host_id.len() > 16
    {
        return Err(fail(
            r,
            "BF23 A6",
            REF_ISC,
            C::initialiseSecureChannel,
            E::unsupportedCrtValues,
            format!(
                "keyType {}, keyLen {}, hostId of {} bytes: 88, 10 and 1 to 16 expected",
                hex::encode(crt.key_type.as_bytes()),
                hex::encode(crt.key_len.as_bytes()),
                host_id.len()
            ),
        ));
    }
    let otpk_dp = isc.smdp_otpk.as_ref();
    if otpk_dp.len() != 65 || otpk_dp[0] != 0x04 {
        return Err(fail(
            r,
            "BF23 5F49",
            REF_ISC,
            C::initialiseSecureChannel,
            E::incorrectInputValues,
            format!(
                "otPK.DP of {} bytes: an uncompressed point (04 ‖ X ‖ Y, 65 bytes) expected",
                otpk_dp.len()
            ),
        ));
    }
    match &inputs.transaction_id {
        Some(t) if t != &isc.transaction_id => {
            return Err(fail(
                r,
                "BF23 80",
                REF_ISC,
                C::initialiseSecureChannel,
                E::invalidTransactionId,
                format!(
                    "transactionId {} is not this session's {}",
                    hex::encode(isc.transaction_id.as_bytes()),
                    hex::encode(t.as_bytes())
                ),
            ))
        }
        Some(_) => r.pass("BF23 80", REF_ISC, "this session's transactionId"),
        None => r.skip(
            "BF23 80",
            REF_ISC,
            format!(
                "transactionId {} taken as given (no session transaction ID)",
                hex::encode(isc.transaction_id.as_bytes())
            ),
        ),
    }
    r.pass(
        "BF23",
        REF_ISC,
        format!(
            "installBoundProfilePackage, AES-128, hostId {}",
            hex::encode(host_id)
        ),
    );

    // Keys first: otPK.EUICC may come from otSK.EUICC, and smdpSign needs it.
    let backend = inputs.backend;
    let (euicc_otpk, shs) = match &inputs.secret {
        Secret::EuiccOtsk(sk) => {
            let (key, shs) = ecdh(r, inputs.curve, sk, "otSK.EUICC", otpk_dp, backend)?;
            (Some(key.public_point().to_vec()), Some(shs))
        }
        Secret::DpOtsk(sk) => {
            let Some(peer) = inputs.euicc_otpk.clone() else {
                return Err(key_fail(
                    r,
                    "otSK.DP given without otPK.EUICC: the ECDH needs both",
                ));
            };
            let (key, shs) = ecdh(r, inputs.curve, sk, "otSK.DP", &peer, backend)?;
            if key.public_point().as_slice() != otpk_dp {
                return Err(key_fail(
                    r,
                    "otSK.DP is not the private key of BF23's otPK.DP",
                ));
            }
            (Some(peer), Some(shs))
        }
        Secret::SharedSecret(shs) => (inputs.euicc_otpk.clone(), Some(*shs)),
        Secret::SessionKeys(_) => (inputs.euicc_otpk.clone(), None),
    };
    if let (Some(given), Some(derived)) = (&inputs.euicc_otpk, &euicc_otpk) {
        if given != derived {
            return Err(key_fail(
                r,
                "the given otPK.EUICC is not otSK.EUICC's public key",
            ));
        }
    }

    // smdpSign, the only signature in a BPP: BF23's components before it
    // ‖ 5F49 otPK.EUICC.
    match (&inputs.dp_pb, &euicc_otpk) {
        (Some(pk), Some(otpk)) => {
            let ok = input::smdp_sign(isc_signed, otpk)
                .and_then(|msg| {
                    let sig = raw_signature(&isc.smdp_sign)?;
                    pk.verify_raw(&msg, &sig, backend)
                })
                .map_err(|e| e.to_string());
            match ok {
                Ok(()) => r.pass("BF23 5F37", REF_SIGN, "smdpSign verifies with PK.DPpb"),
                Err(e) => {
                    return Err(fail(
                        r,
                        "BF23 5F37",
                        REF_SIGN,
                        C::initialiseSecureChannel,
                        E::invalidSignature,
                        format!(
                            "smdpSign does not verify over 82 01 01 ‖ 80 txid ‖ A6 CRT ‖ 5F49 \
                             otPK.DP ‖ 5F49 otPK.EUICC with PK.DPpb: {e}"
                        ),
                    ))
                }
            }
        }
        (None, _) => r.skip(
            "BF23 5F37",
            REF_SIGN,
            "smdpSign not checked: no CERT.DPpb given",
        ),
        (_, None) => r.skip(
            "BF23 5F37",
            REF_SIGN,
            "smdpSign not checked: no otPK.EUICC given",
        ),
    }

    let keys = match (&inputs.secret, shs) {
        (Secret::SessionKeys(k), _) => {
            r.skip("keys", REF_KDF, "session keys given: no ECDH, no KDF");
            k.clone()
        }
        (_, Some(shs)) => {
            r.shared_secret = Some(shs);
            let k = derive_session_keys(&shs, host_id, &inputs.eid);
            r.pass(
                "keys",
                REF_KDF,
                format!(
                    "ShS {} → initial MCV {}, S-ENC and S-MAC (SharedInfo with hostId {} and \
                     EID {})",
                    hex::encode(shs),
                    hex::encode(k.initial_mcv),
                    hex::encode(host_id),
                    hex::encode(inputs.eid)
                ),
            );
            k
        }
        // Every secret but the session keys yields ShS.
        (_, None) => return Err(key_fail(r, "no shared secret")),
    };
    r.session_keys = Some(keys.clone());
    let mut bsp = Bsp::from_session_keys(&keys, Engine::Auto);

    let configure = open_part(
        r,
        &mut bsp,
        "A0 87",
        0x87,
        C::configureISDP,
        bpp.first_sequence_of87.iter().map(|s| s.0.as_ref()),
        true,
    )?;
    decoded::<ConfigureISDPRequest>(r, "A0", &configure, C::configureISDP)?;
    let metadata = open_part(
        r,
        &mut bsp,
        "A1 88",
        0x88,
        C::storeMetadata,
        bpp.sequence_of88.iter().map(|s| s.0.as_ref()),
        false,
    )?;
    decoded::<StoreMetadataRequest>(r, "A1", &metadata, C::storeMetadata)?;
    if let Some(a2) = &bpp.second_sequence_of87 {
        let rsk = open_part(
            r,
            &mut bsp,
            "A2 87",
            0x87,
            C::replaceSessionKeys,
            a2.iter().map(|s| s.0.as_ref()),
            true,
        )?;
        let req: ReplaceSessionKeysRequest = decoded(r, "A2", &rsk, C::replaceSessionKeys)?;
        let key16 = |b: &[u8]| <[u8; 16]>::try_from(b).ok();
        let (Some(enc), Some(mac), Some(mcv)) = (
            key16(&req.ppk_enc),
            key16(&req.ppk_cmac),
            key16(&req.initial_mac_chaining_value),
        ) else {
            return Err(fail(
                r,
                "A2",
                REF_PPK,
                C::replaceSessionKeys,
                E::incorrectInputValues,
                "a PPK value is not 16 bytes".into(),
            ));
        };
        // The profile segments then run on a fresh instance, its counter back at 1.
        bsp = Bsp::new(&enc, &mac, &mcv, Engine::Auto);
        r.ppk = Some(SessionKeys {
            initial_mcv: mcv,
            s_enc: enc,
            s_mac: mac,
        });
        r.pass(
            "A2",
            REF_PPK,
            "PPK-ENC, PPK-MAC and initial MCV: A3 uses them, counter from 1",
        );
    }
    let profile = open_part(
        r,
        &mut bsp,
        "A3 86",
        0x86,
        C::loadProfileElements,
        bpp.sequence_of86.iter().map(|s| s.0.as_ref()),
        true,
    )?;
    r.pass(
        "A3",
        REF_BSP,
        format!(
            "{} segments, {} bytes of profile package",
            bpp.sequence_of86.len(),
            profile.len()
        ),
    );
    r.profile = Some(profile);
    Ok(())
}

/// A secret that yields no keys: the eUICC would refuse BF23 (incorrectInputValues).
fn key_fail(r: &mut Report, detail: impl Into<String>) -> Stop {
    fail(
        r,
        "keys",
        REF_KDF,
        BppCommandId::initialiseSecureChannel,
        ErrorReason::incorrectInputValues,
        detail.into(),
    )
}

/// ECDH of the private scalar `sk` (named `which`) with `peer`: the key and ShS.
fn ecdh(
    r: &mut Report,
    curve: Curve,
    sk: &[u8; 32],
    which: &str,
    peer: &[u8],
    backend: Backend,
) -> Result<(EphemeralKey, [u8; 32]), Stop> {
    let key =
        EphemeralKey::from_scalar(curve, *sk).map_err(|e| key_fail(r, format!("{which}: {e}")))?;
    let shs = key
        .shared_secret(peer, backend)
        .map_err(|e| key_fail(r, format!("ECDH: {e}")))?;
    Ok((key, shs))
}

/// Verifies (and decrypts) the segments of one part in order; their plaintexts concatenated.
fn open_part<'a>(
    r: &mut Report,
    bsp: &mut Bsp,
    name: &str,
    tag: u8,
    cmd: BppCommandId,
    values: impl IntoIterator<Item = &'a [u8]>,
    encrypted: bool,
) -> Result<Vec<u8>, Stop> {
    let values: Vec<&[u8]> = values.into_iter().collect();
    let mut all = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let mut tlv = Vec::with_capacity(v.len() + 4);
        rsp_asn1::tlv::push_tlv(&mut tlv, &[tag], v);
        let opened = if encrypted {
            bsp.verify_and_decrypt(tag, &tlv)
        } else {
            bsp.verify_mac_only(tag, &tlv)
        };
        let part = format!("{name}[{i}]");
        match opened {
            Ok(p) => {
                all.extend_from_slice(&p);
                r.segments.push(Segment {
                    part,
                    protected: tlv,
                    plaintext: p,
                });
            }
            Err(e) => {
                let (reason, detail) = match e {
                    SegmentError::Mac => (
                        ErrorReason::scp03tSecurityError,
                        format!(
                            "C-MAC mismatch at block counter {} (wrong keys, a changed byte, or \
                             the MAC chain of an earlier segment in another order)",
                            bsp.counter()
                        ),
                    ),
                    SegmentError::Structure(s) => (ErrorReason::scp03tStructureError, s),
                };
                r.push(
                    part,
                    REF_BSP,
                    Outcome::Failed(Failure {
                        bpp_command_id: cmd,
                        error_reason: reason,
                        detail,
                    }),
                );
                return Err(Stop);
            }
        }
    }
    if values.is_empty() {
        r.push(
            name,
            REF_BPP,
            Outcome::Failed(Failure {
                bpp_command_id: cmd,
                error_reason: ErrorReason::scp03tStructureError,
                detail: "no segment".into(),
            }),
        );
        return Err(Stop);
    }
    r.pass(
        name,
        REF_BSP,
        format!(
            "{} segment(s) {}",
            values.len(),
            if encrypted {
                "decrypted, MACs and padding verified"
            } else {
                "MACs verified"
            }
        ),
    );
    Ok(all)
}

fn decoded<T: rsp_asn1::rasn::Decode + rsp_asn1::rasn::Encode>(
    r: &mut Report,
    part: &str,
    der: &[u8],
    cmd: BppCommandId,
) -> Result<T, Stop> {
    rsp_asn1::decode::<T>(der).map_err(|e| {
        fail(
            r,
            part,
            REF_BPP,
            cmd,
            ErrorReason::incorrectInputValues,
            format!("the opened plaintext: {e}"),
        )
    })
}

fn length_of_length(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        _ => 4,
    }
}
