//! Shared fuzz harness: decode → encode → decode must be stable for every top-level decoder.

use rsp_asn1::rasn::{Decode, Encode};

/// Decodes `data` as `T`; when it decodes, re-encoding must succeed, reproduce the input
/// exactly (rsp-asn1's decoder is strict DER) and decode again to the same value.
pub fn der_round_trip<T>(data: &[u8])
where
    T: Decode + Encode + PartialEq + core::fmt::Debug,
{
    if let Ok(value) = rsp_asn1::decode::<T>(data) {
        let der = rsp_asn1::encode(&value).expect("a decoded value must encode");
        assert_eq!(
            der, data,
            "strict DER decode accepted a non-canonical input"
        );
        let again = rsp_asn1::decode::<T>(&der).expect("our encoding must decode");
        assert_eq!(again, value);
    }
}
