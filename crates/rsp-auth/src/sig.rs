//! SGP.22 signature containers and signature inputs (digest §4.1).
//!
//! Every input is built from the *raw* TLVs as received or as sent ([`Signed::raw`]), so no
//! caller concatenates bytes by hand and nothing is re-encoded before verification.

use rsp_asn1::download::InitialiseSecureChannelRequest;
use rsp_asn1::raw::Signed;
use rsp_asn1::tlv::{push_tlv, Tlv};

use crate::key::RawSignature;
use crate::Error;

/// `hashCc = SHA-256(SHA-256(code) ‖ transactionId)` (SGP.22 3.1.3.2 / digest §4.3): `code` is
/// the confirmation code's bytes (its ASCII text as typed, which LPAs hash), `transaction_id`
/// the raw octets. The one implementation: the SM-DP+ and the virtual eUICC both call it.
pub fn hash_cc(code: &[u8], transaction_id: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(Sha256::digest(code));
    h.update(transaction_id);
    h.finalize().into()
}

/// `[APPLICATION 55]` tag of every SGP.22 signature.
pub const TAG_SIGNATURE: [u8; 2] = [0x5F, 0x37];
/// `[APPLICATION 73]` tag of one-time public keys.
pub const TAG_OTPK: [u8; 2] = [0x5F, 0x49];

/// `5F37 40 ‖ r‖s`: the full TLV some inputs include and the JSON binding carries.
pub fn signature_tlv(sig: &[u8; 64]) -> Vec<u8> {
    let mut v = Vec::with_capacity(67);
    push_tlv(&mut v, &TAG_SIGNATURE, sig);
    v
}

/// The 64-byte `r‖s` value of a signature field (the OCTET STRING contents, without `5F37`).
/// A DER-encoded signature (`30 …`, 70–72 bytes) or any other length is refused.
pub fn raw_signature(value: &[u8]) -> Result<RawSignature, Error> {
    value.try_into().map_err(|_| {
        Error::Signature(format!(
            "signature value of {} bytes; SGP.22 wants raw r‖s (64 bytes){}",
            value.len(),
            if value.first() == Some(&0x30) {
                ", this looks DER-encoded"
            } else {
                ""
            }
        ))
    })
}

/// The signed bytes of each SGP.22 signature.
pub mod input {
    use super::*;

    /// serverSignature1 (SK.DPauth): the ServerSigned1 TLV.
    pub fn server_signature1<T>(server_signed1: &Signed<T>) -> &[u8] {
        server_signed1.raw()
    }

    /// euiccSignature1 (SK.EUICC): the euiccSigned1 TLV as received.
    pub fn euicc_signature1<T>(euicc_signed1: &Signed<T>) -> &[u8] {
        euicc_signed1.raw()
    }

    /// smdpSignature2 (SK.DPpb): smdpSigned2 TLV ‖ `5F37 40 ‖ euiccSignature1`.
    pub fn smdp_signature2<T>(smdp_signed2: &Signed<T>, euicc_signature1: &[u8; 64]) -> Vec<u8> {
        [smdp_signed2.raw(), &signature_tlv(euicc_signature1)].concat()
    }

    /// euiccSignature2 (SK.EUICC): euiccSigned2 TLV ‖ `5F37 40 ‖ smdpSignature2`.
    pub fn euicc_signature2<T>(euicc_signed2: &Signed<T>, smdp_signature2: &[u8; 64]) -> Vec<u8> {
        [euicc_signed2.raw(), &signature_tlv(smdp_signature2)].concat()
    }

    /// smdpSign (SK.DPpb) in BF23: the BF23 component TLVs before smdpSign
    /// (`82 01 01`, `80 txid`, `A6 CRT`, `5F49 otPK.DP`) ‖ `5F49 41 ‖ otPK.EUICC`.
    /// `isc` is the received BF23, or one built with any placeholder smdpSign.
    pub fn smdp_sign(
        isc: &Signed<InitialiseSecureChannelRequest>,
        euicc_otpk: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let bf23 =
            Tlv::read_exact(isc.raw()).map_err(|e| Error::Signature(format!("BF23: {e}")))?;
        let mut out = Vec::with_capacity(isc.raw().len() + 70);
        for child in bf23.children() {
            let child = child.map_err(|e| Error::Signature(format!("BF23: {e}")))?;
            if child.tag != TAG_SIGNATURE {
                out.extend_from_slice(child.raw);
            }
        }
        push_tlv(&mut out, &TAG_OTPK, euicc_otpk);
        Ok(out)
    }

    /// euiccSignPIR (SK.EUICC): the ProfileInstallationResultData TLV (`BF27`).
    pub fn euicc_sign_pir<T>(data: &Signed<T>) -> &[u8] {
        data.raw()
    }

    /// euiccNotificationSignature (SK.EUICC): the NotificationMetadata TLV (`BF2F`).
    pub fn euicc_notification<T>(metadata: &Signed<T>) -> &[u8] {
        metadata.raw()
    }

    /// euiccCancelSessionSignature (SK.EUICC): the EuiccCancelSessionSigned TLV (`30`).
    pub fn euicc_cancel_session<T>(signed: &Signed<T>) -> &[u8] {
        signed.raw()
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    /// Digest §4.3: the code's bytes hashed, then with the raw transaction ID octets (not its
    /// hex text); one changed digit changes the hash.
    #[test]
    fn confirmation_code_hash() {
        let txid = [0x12u8; 16];
        let inner = Sha256::digest(b"12345678");
        let want: [u8; 32] = Sha256::digest([inner.as_slice(), &txid].concat()).into();
        assert_eq!(super::hash_cc(b"12345678", &txid), want);
        assert_ne!(super::hash_cc(b"12345679", &txid), want);
        assert_ne!(
            super::hash_cc(b"12345678", hex::encode(txid).as_bytes()),
            want
        );
    }
}
