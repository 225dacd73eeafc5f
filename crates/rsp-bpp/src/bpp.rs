//! The Bound Profile Package: built by the SM-DP+ for one eUICC, unwrapped by the eUICC.
//!
//! `BF36 { BF23 InitialiseSecureChannelRequest, A0 {87 ConfigureISDP}, A1 {88 StoreMetadata…},
//! [A2 {87 ReplaceSessionKeys}], A3 {86 profile…} }`. One BSP instance (session keys) runs
//! through A0, A1 and A2; A3 uses it too, or, for a pre-protected profile, a fresh instance on
//! the PPKs whose counter restarts at 1 (digest §5.3).

use rsp_asn1::download::{
    BoundProfilePackage, ConfigureISDPRequest, ControlRefTemplate, InitialiseSecureChannelRequest,
    RemoteOpId, ReplaceSessionKeysRequest, Segment86, Segment87, Segment88, StoreMetadataRequest,
};
use rsp_asn1::notification::{BppCommandId, ErrorReason};
use rsp_asn1::raw::Signed;
use rsp_asn1::tlv::Tlv;
use rsp_asn1::{Octet1, OctetTo16, TransactionId};
use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::sig::{input, raw_signature};
use rsp_auth::{Backend, PublicKey, SigningKey};

use crate::bsp::{Bsp, Engine, SegmentError, Segments, MAX_MAC_ONLY_PLAINTEXT};
use crate::kdf::{derive_session_keys, KEY_LENGTH, KEY_TYPE_AES};
use crate::Error;

/// PPK-ENC, PPK-MAC and the initial MCV of a pre-protected profile package.
#[derive(Clone, PartialEq, Eq)]
pub struct PpkKeys {
    pub enc: [u8; 16],
    pub mac: [u8; 16],
    pub initial_mcv: [u8; 16],
}

impl core::fmt::Debug for PpkKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PpkKeys(..)")
    }
}

/// A profile protected once with its PPKs (SGP.22 PPP): the `86` segments can be rebound to any
/// eUICC by sending the PPKs in A2 under that session's keys.
#[derive(Debug, Clone)]
pub struct PreProtectedProfile {
    pub ppk: PpkKeys,
    /// The `86` segments.
    pub segments: Segments,
}

impl PreProtectedProfile {
    /// Protects `profile` with `ppk` (counter from 1).
    pub fn new(profile: &[u8], ppk: PpkKeys, engine: Engine) -> Self {
        let mut bsp = Bsp::new(&ppk.enc, &ppk.mac, &ppk.initial_mcv, engine);
        let segments = protect_segments(&mut bsp, 0x86, profile);
        Self { ppk, segments }
    }
}

/// Splits `data` into ≤1007-byte chunks and protects each as an encrypted segment (an empty
/// input still yields one segment).
pub fn protect_segments(bsp: &mut Bsp, tag: u8, data: &[u8]) -> Segments {
    bsp.protect(tag, data)
}

/// Where the profile segments come from.
#[derive(Debug, Clone, Copy)]
pub enum ProfileSource<'a> {
    /// The unprotected profile package: protected with the session keys.
    Plain(&'a [u8]),
    /// Pre-protected with PPKs: A2 carries the keys, A3 the stored segments.
    PreProtected(&'a PreProtectedProfile),
}

/// Everything the SM-DP+ needs to bind a profile to one eUICC.
pub struct BppRequest<'a> {
    pub transaction_id: TransactionId,
    /// The CRT host ID (1..16 bytes).
    pub host_id: &'a [u8],
    pub eid: [u8; 16],
    /// otSK.DP/otPK.DP for this binding.
    pub smdp_ot_key: &'a EphemeralKey,
    /// otPK.EUICC from euiccSigned2.
    pub euicc_otpk: &'a [u8],
    /// SK.DPpb, signs smdpSign.
    pub dp_pb_key: &'a SigningKey,
    pub backend: Backend,
    pub engine: Engine,
    pub configure_isdp: &'a ConfigureISDPRequest,
    /// The StoreMetadataRequest exactly as sent in authenticateClient's profileMetadata.
    pub store_metadata_der: &'a [u8],
    pub profile: ProfileSource<'a>,
    /// The smdpSign of an earlier build of this same binding for this same transaction: the
    /// BPP is then rebuilt byte for byte (a resend) without keeping its bytes. `None`: sign.
    pub smdp_sign: Option<[u8; 64]>,
}

/// Builds the BPP.
pub fn build(req: &BppRequest<'_>) -> Result<BoundProfilePackage, Error> {
    let shs = req.smdp_ot_key.shared_secret(req.euicc_otpk, req.backend)?;
    let keys = derive_session_keys(&shs, req.host_id, &req.eid);
    let invalid = |what: &str| Error::Invalid(what.to_string());
    let mut isc = InitialiseSecureChannelRequest {
        remote_op_id: RemoteOpId::installBoundProfilePackage,
        transaction_id: req.transaction_id.clone(),
        control_ref_template: ControlRefTemplate {
            key_type: Octet1::new(vec![KEY_TYPE_AES]).map_err(|_| invalid("key type"))?,
            key_len: Octet1::new(vec![KEY_LENGTH]).map_err(|_| invalid("key length"))?,
            host_id: OctetTo16::new(req.host_id.to_vec())
                .map_err(|_| invalid("host ID must be 1..16 bytes"))?,
            extensions: None,
        },
        smdp_otpk: req.smdp_ot_key.public_point().to_vec().into(),
        smdp_sign: vec![0u8; 64].into(),
        extensions: None,
    };
    let sig = match req.smdp_sign {
        Some(sig) => sig,
        None => {
            let unsigned = Signed::new(isc.clone())?;
            req.dp_pb_key
                .sign_raw(&input::smdp_sign(&unsigned, req.euicc_otpk)?, req.backend)?
        }
    };
    isc.smdp_sign = sig.to_vec().into();

    let mut bsp = Bsp::from_session_keys(&keys, req.engine);
    let a0 = protect_segments(&mut bsp, 0x87, &rsp_asn1::encode(req.configure_isdp)?);
    let mut a1 = Vec::new();
    let mut chunks = req
        .store_metadata_der
        .chunks(MAX_MAC_ONLY_PLAINTEXT)
        .peekable();
    if chunks.peek().is_none() {
        return Err(invalid("empty StoreMetadataRequest"));
    }
    for chunk in chunks {
        let mut v = Vec::with_capacity(chunk.len() + 16);
        bsp.mac_only(0x88, chunk, &mut v);
        let t = Tlv::read_exact(&v).map_err(|e| invalid(&e.to_string()))?;
        a1.push(Segment88(t.value.to_vec().into()));
    }
    let (a2, a3) = match req.profile {
        ProfileSource::Plain(p) => (None, protect_segments(&mut bsp, 0x86, p)),
        ProfileSource::PreProtected(ppp) => {
            let rsk = ReplaceSessionKeysRequest {
                initial_mac_chaining_value: ppp.ppk.initial_mcv.to_vec().into(),
                ppk_enc: ppp.ppk.enc.to_vec().into(),
                ppk_cmac: ppp.ppk.mac.to_vec().into(),
                extensions: None,
            };
            let a2 = protect_segments(&mut bsp, 0x87, &rsp_asn1::encode(&rsk)?);
            (Some(a2), ppp.segments.clone())
        }
    };
    Ok(BoundProfilePackage {
        initialise_secure_channel_request: Signed::new(isc)?,
        first_sequence_of87: a0.values().into_iter().map(Segment87).collect(),
        sequence_of88: a1,
        second_sequence_of87: a2.map(|a| a.values().into_iter().map(Segment87).collect()),
        sequence_of86: a3.values().into_iter().map(Segment86).collect(),
        extensions: None,
    })
}

/// What the eUICC gets out of a BPP.
#[derive(Debug, Clone)]
pub struct Unwrapped {
    pub initialise_secure_channel: InitialiseSecureChannelRequest,
    pub configure_isdp: ConfigureISDPRequest,
    /// The StoreMetadataRequest bytes as carried (to compare with profileMetadata).
    pub store_metadata_der: Vec<u8>,
    pub store_metadata: StoreMetadataRequest,
    pub replace_session_keys: Option<ReplaceSessionKeysRequest>,
    /// The reassembled profile package.
    pub profile: Vec<u8>,
}

/// Where and why a BPP was refused, as the eUICC reports it in the PIR errorResult.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{bpp_command_id:?} segment {segment}: {error_reason:?}: {detail}")]
pub struct UnwrapError {
    pub bpp_command_id: BppCommandId,
    pub error_reason: ErrorReason,
    /// Index of the failing segment within its part (0 for BF23).
    pub segment: usize,
    pub detail: String,
}

/// What the eUICC knows when a BPP arrives.
pub struct UnwrapContext<'a> {
    /// otSK/otPK.EUICC of this session.
    pub euicc_ot_key: &'a EphemeralKey,
    pub eid: [u8; 16],
    /// PK.DPpb from the verified CERT.DPpb, checks smdpSign.
    pub dp_pb_key: &'a PublicKey,
    /// The session's transaction ID.
    pub transaction_id: &'a TransactionId,
    pub backend: Backend,
    pub engine: Engine,
}

fn fail(
    cmd: BppCommandId,
    reason: ErrorReason,
    segment: usize,
    detail: impl Into<String>,
) -> UnwrapError {
    UnwrapError {
        bpp_command_id: cmd,
        error_reason: reason,
        segment,
        detail: detail.into(),
    }
}

fn seg_fail(cmd: BppCommandId, segment: usize, e: SegmentError) -> UnwrapError {
    let reason = match e {
        SegmentError::Mac => ErrorReason::scp03tSecurityError,
        SegmentError::Structure(_) => ErrorReason::scp03tStructureError,
    };
    fail(cmd, reason, segment, e.to_string())
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(value.len() + 4);
    rsp_asn1::tlv::push_tlv(&mut v, &[tag], value);
    v
}

/// Verifies every signature and MAC in order, decrypts, and reassembles (eUICC side).
pub fn unwrap(
    bpp: &BoundProfilePackage,
    ctx: &UnwrapContext<'_>,
) -> Result<Unwrapped, UnwrapError> {
    use BppCommandId as C;
    use ErrorReason as R;
    let isc_signed = &bpp.initialise_secure_channel_request;
    let isc = isc_signed.value();
    if isc.remote_op_id != RemoteOpId::installBoundProfilePackage {
        return Err(fail(
            C::initialiseSecureChannel,
            R::unsupportedRemoteOperationType,
            0,
            format!("{:?}", isc.remote_op_id),
        ));
    }
    let crt = &isc.control_ref_template;
    if crt.key_type.as_bytes() != [KEY_TYPE_AES] || crt.key_len.as_bytes() != [KEY_LENGTH] {
        return Err(fail(
            C::initialiseSecureChannel,
            R::unsupportedCrtValues,
            0,
            "key type/length not AES-128",
        ));
    }
    if &isc.transaction_id != ctx.transaction_id {
        return Err(fail(
            C::initialiseSecureChannel,
            R::invalidTransactionId,
            0,
            "transaction ID of another session",
        ));
    }
    let sign_input =
        input::smdp_sign(isc_signed, ctx.euicc_ot_key.public_point()).map_err(|e| {
            fail(
                C::initialiseSecureChannel,
                R::incorrectInputValues,
                0,
                e.to_string(),
            )
        })?;
    raw_signature(&isc.smdp_sign)
        .and_then(|sig| ctx.dp_pb_key.verify_raw(&sign_input, &sig, ctx.backend))
        .map_err(|e| {
            fail(
                C::initialiseSecureChannel,
                R::invalidSignature,
                0,
                e.to_string(),
            )
        })?;
    let shs = ctx
        .euicc_ot_key
        .shared_secret(&isc.smdp_otpk, ctx.backend)
        .map_err(|e| {
            fail(
                C::initialiseSecureChannel,
                R::incorrectInputValues,
                0,
                e.to_string(),
            )
        })?;
    let keys = derive_session_keys(&shs, isc.control_ref_template.host_id.as_bytes(), &ctx.eid);
    let mut bsp = Bsp::from_session_keys(&keys, ctx.engine);

    let mut isdp = Vec::new();
    for (i, s) in bpp.first_sequence_of87.iter().enumerate() {
        let p = bsp
            .verify_and_decrypt(0x87, &tlv(0x87, &s.0))
            .map_err(|e| seg_fail(C::configureISDP, i, e))?;
        isdp.extend(p);
    }
    let configure_isdp = rsp_asn1::decode::<ConfigureISDPRequest>(&isdp)
        .map_err(|e| fail(C::configureISDP, R::incorrectInputValues, 0, e.to_string()))?;

    let mut md = Vec::new();
    for (i, s) in bpp.sequence_of88.iter().enumerate() {
        let p = bsp
            .verify_mac_only(0x88, &tlv(0x88, &s.0))
            .map_err(|e| seg_fail(C::storeMetadata, i, e))?;
        md.extend(p);
    }
    let store_metadata = rsp_asn1::decode::<StoreMetadataRequest>(&md)
        .map_err(|e| fail(C::storeMetadata, R::incorrectInputValues, 0, e.to_string()))?;

    let mut replace_session_keys = None;
    if let Some(a2) = &bpp.second_sequence_of87 {
        let mut rsk = Vec::new();
        for (i, s) in a2.iter().enumerate() {
            let p = bsp
                .verify_and_decrypt(0x87, &tlv(0x87, &s.0))
                .map_err(|e| seg_fail(C::replaceSessionKeys, i, e))?;
            rsk.extend(p);
        }
        let r = rsp_asn1::decode::<ReplaceSessionKeysRequest>(&rsk).map_err(|e| {
            fail(
                C::replaceSessionKeys,
                R::incorrectInputValues,
                0,
                e.to_string(),
            )
        })?;
        let key16 = |b: &[u8]| -> Result<[u8; 16], UnwrapError> {
            b.try_into().map_err(|_| {
                fail(
                    C::replaceSessionKeys,
                    R::incorrectInputValues,
                    0,
                    "PPK value is not 16 bytes",
                )
            })
        };
        bsp = Bsp::new(
            &key16(&r.ppk_enc)?,
            &key16(&r.ppk_cmac)?,
            &key16(&r.initial_mac_chaining_value)?,
            ctx.engine,
        );
        replace_session_keys = Some(r);
    }

    let mut profile = Vec::with_capacity(bpp.sequence_of86.len() * 1008);
    for (i, s) in bpp.sequence_of86.iter().enumerate() {
        let p = bsp
            .verify_and_decrypt(0x86, &tlv(0x86, &s.0))
            .map_err(|e| seg_fail(C::loadProfileElements, i, e))?;
        profile.extend(p);
    }
    Ok(Unwrapped {
        initialise_secure_channel: isc.clone(),
        configure_isdp,
        store_metadata_der: md,
        store_metadata,
        replace_session_keys,
        profile,
    })
}
