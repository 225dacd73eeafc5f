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

/// A virtual eUICC (NIST P-256, our PKI) with one profile installed and enabled at
/// manufacture, as saved state, and the time its certificates were checked at: built once
/// per process, reloaded per input (the APDU and lpac stdio targets).
pub fn card_with_profile() -> &'static (veuicc::state::CardState, std::time::SystemTime) {
    use rsp_auth::{Backend, Curve};
    use veuicc::{Euicc, Preinstalled};
    static S: std::sync::OnceLock<(veuicc::state::CardState, std::time::SystemTime)> =
        std::sync::OnceLock::new();
    S.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs");
        let pki = rsp_auth::pki::Pki::load(&dir).expect("our PKI");
        let now = std::time::SystemTime::now();
        let mut e = Euicc::from_pki(&pki, Curve::NistP256, Backend::AwsLc, now).expect("eUICC");
        let package = rsp_saip::MinimalUsim::default()
            .build()
            .expect("profile")
            .to_der();
        e.preinstall(Preinstalled {
            package,
            service_provider_name: "fuzz".into(),
            profile_name: "fuzz".into(),
            notification_address: Some("localhost:8443".into()),
            enabled: true,
        })
        .expect("preinstall");
        (e.to_state(), now)
    })
}
