//! Golden bytes from independent published sources (`testdata/rsp-asn1-golden.json`, each
//! entry naming its source): the third-party SM-DP+ trace plaintexts, the digest's examples,
//! the EID and activation-code vectors.

use crate::common::{h, ski, BRP_CI, NIST_CI};
use rsp_asn1::auth::EUICCInfo1;
use rsp_asn1::bits::NamedBits;
use rsp_asn1::download::StoreMetadataRequest;
use rsp_asn1::download::{ConfigureISDPRequest, ProfileClass, ReplaceSessionKeysRequest};
use rsp_asn1::es9::{Der, Signature};
use rsp_asn1::ids::{ActivationCode, Eid, Iccid};
use rsp_asn1::{decode, encode, SubjectKeyIdentifier, VersionType};
use serde_json::Value;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/rsp-asn1-golden.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn der_entry(name: &str) -> Vec<u8> {
    let g = golden();
    let e = g["der"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in testdata"));
    h(e["hex"].as_str().unwrap())
}

#[test]
fn configure_isdp_from_trace() {
    let der = der_entry("configureIsdpEmpty");
    assert_eq!(encode(&ConfigureISDPRequest::default()).unwrap(), der);
    assert_eq!(
        decode::<ConfigureISDPRequest>(&der).unwrap(),
        ConfigureISDPRequest::default()
    );
}

#[test]
fn store_metadata_from_trace() {
    let der = der_entry("storeMetadataMode51");
    let md: StoreMetadataRequest = decode(&der).unwrap();
    assert_eq!(md.iccid.digits().unwrap(), "89000123456789012341");
    assert_eq!(md.service_provider_name, "GSMA_TEST");
    assert_eq!(md.profile_name, "GSMA_TEST_PROFILE");
    assert_eq!(md.profile_class, ProfileClass::test);
    assert_eq!(encode(&md).unwrap(), der);
    // And built from scratch.
    let built = StoreMetadataRequest {
        iccid: Iccid::from_digits("89000123456789012341").unwrap(),
        service_provider_name: "GSMA_TEST".into(),
        profile_name: "GSMA_TEST_PROFILE".into(),
        icon_type: None,
        icon: None,
        profile_class: ProfileClass::test,
        notification_configuration_info: None,
        profile_owner: None,
        profile_policy_rules: None,
        ecall_indication: None,
        fallback_allowed: None,
        extensions: None,
    };
    assert_eq!(encode(&built).unwrap(), der);
}

#[test]
fn default_profile_class_is_omitted_and_refused_when_written() {
    let der = der_entry("storeMetadataMode51");
    let mut md: StoreMetadataRequest = decode(&der).unwrap();
    md.profile_class = ProfileClass::operational;
    let enc = encode(&md).unwrap();
    assert!(
        !enc.windows(2).any(|w| w == [0x95, 0x01]),
        "DEFAULT written"
    );
    // `95 01 02` written out is BER, not DER: refused.
    let mut explicit = der.clone();
    let n = explicit.len();
    explicit[n - 1] = 0x02;
    assert!(decode::<StoreMetadataRequest>(&explicit).is_err());
}

#[test]
fn replace_session_keys_from_trace() {
    let der = der_entry("replaceSessionKeysMode51");
    let built = ReplaceSessionKeysRequest {
        initial_mac_chaining_value: h("000102030405060708090a0b0c0d0e0f").into(),
        ppk_enc: h("010102030405060708090a0b0c0d0e0f").into(),
        ppk_cmac: h("020102030405060708090a0b0c0d0e0f").into(),
        extensions: None,
    };
    assert_eq!(encode(&built).unwrap(), der);
    assert_eq!(decode::<ReplaceSessionKeysRequest>(&der).unwrap(), built);
}

#[test]
fn notification_event_bits_are_der_minimal() {
    for e in golden()["named_bits"].as_array().unwrap() {
        let bits: Vec<usize> = e["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap() as usize)
            .collect();
        let want = h(e["hex"].as_str().unwrap());
        let der = encode(&NamedBits::from_bits(&bits)).unwrap();
        assert_eq!(der[0], 0x03, "{}", e["event"]);
        assert_eq!(&der[2..], &want[..], "{}", e["event"]);
        assert_eq!(decode::<NamedBits>(&der).unwrap().set_bits(), bits);
    }
    // Trailing zero bits are not DER for a named BIT STRING.
    assert!(decode::<NamedBits>(&[0x03, 0x03, 0x06, 0x80, 0x00]).is_err());
}

#[test]
fn iccid_bcd() {
    for e in golden()["iccid"].as_array().unwrap() {
        let digits = e["digits"].as_str().unwrap();
        let i = Iccid::from_digits(digits).unwrap();
        assert_eq!(i.as_bytes()[..], h(e["hex"].as_str().unwrap())[..]);
        assert_eq!(i.digits().unwrap(), digits);
        assert!(i.luhn_ok());
        assert_eq!(Iccid::with_luhn(&digits[..19]).unwrap(), i);
    }
    // 19 digits pad with F; non-BCD nibbles are reported, not printed as digits.
    let i19 = Iccid::from_digits("8944500102198304826").unwrap();
    assert_eq!(i19.as_bytes()[9], 0xF6);
    assert_eq!(i19.digits().unwrap(), "8944500102198304826");
    assert!(Iccid::from_bytes(&h("98001032547698103A14"))
        .unwrap()
        .digits()
        .is_err());
    assert!(Iccid::from_digits("8900012345678901234X").is_err());
    assert!(Iccid::from_bytes(&[0x98; 9]).is_err());
}

/// The EUICCInfo1 of the digest's Mode51 sample: v2.2.0, both SGP.26 CIs for each list.
fn mode51_euicc_info1() -> EUICCInfo1 {
    EUICCInfo1 {
        svn: VersionType::from_parts(2, 2, 0),
        euicc_ci_pkid_list_for_verification: vec![ski(BRP_CI), ski(NIST_CI)],
        euicc_ci_pkid_list_for_signing: vec![ski(BRP_CI), ski(NIST_CI)],
        extensions: None,
    }
}

#[test]
fn euicc_info1_matches_published_sample() {
    let g = golden();
    let info = mode51_euicc_info1();
    let der = encode(&info).unwrap();
    let p = &g["euicc_info1_prefix"];
    let prefix = h(p["hex_prefix"].as_str().unwrap());
    let then = h(p["then"].as_str().unwrap());
    assert_eq!(&der[..prefix.len()], &prefix[..]);
    // The prefix ends inside svn (`82 03 02`): two svn bytes follow, then the lists.
    assert_eq!(
        &der[prefix.len() + 2..prefix.len() + 2 + then.len()],
        &then[..]
    );
    assert_eq!(der.len(), 3 + 0x61);
}

#[test]
fn json_fields_match_published_base64_prefixes() {
    let g = golden();
    let info = mode51_euicc_info1();
    let fields = [
        (
            "euiccInfo1",
            serde_json::to_value(Der::encode(&info).unwrap()).unwrap(),
        ),
        (
            "serverSignature1",
            serde_json::to_value(Der::encode(&Signature(vec![7; 64].into())).unwrap()).unwrap(),
        ),
        (
            "euiccCiPKIdToBeUsed",
            serde_json::to_value(Der::<SubjectKeyIdentifier>::encode(&ski(NIST_CI)).unwrap())
                .unwrap(),
        ),
    ];
    for e in g["json_base64_prefixes"].as_array().unwrap() {
        let field = e["field"].as_str().unwrap();
        let (_, v) = fields.iter().find(|(f, _)| *f == field).unwrap();
        assert!(
            v.as_str()
                .unwrap()
                .starts_with(e["prefix"].as_str().unwrap()),
            "{field}: {v}"
        );
    }
}

#[test]
fn eid_check_digits() {
    let g = golden();
    let e = &g["eid"];
    for v in e["valid"].as_array().unwrap() {
        let s = v.as_str().unwrap();
        let eid = Eid::parse(s).unwrap();
        assert_eq!(eid.digits(), s);
        assert_eq!(hex::encode(eid.as_bytes()), s);
    }
    for v in e["invalid"].as_array().unwrap() {
        let s = v.as_str().unwrap();
        assert!(Eid::parse(s).is_err(), "{s}");
        assert!(!Eid::parse_unchecked(s).unwrap().check_digits_ok());
    }
    for pair in e["complete"].as_array().unwrap() {
        let (input, want) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        assert_eq!(Eid::with_check_digits(input).unwrap().digits(), want);
    }
    for bad in [
        "8904903212345123451234567890123",
        "8904903212345123451234567890123X",
        "",
    ] {
        assert!(Eid::parse(bad).is_err(), "{bad}");
    }
    assert!(Eid::from_bytes(&h("89049032123451234512345678901A35")).is_err());
}

#[test]
fn activation_codes() {
    let g = golden();
    let ac = &g["activation_codes"];
    for case in ac["round_trip"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let parsed = ActivationCode::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(parsed.smdp_address, case["address"].as_str().unwrap());
        assert_eq!(parsed.matching_id, case["matching_id"].as_str().unwrap());
        assert_eq!(parsed.smdp_oid.as_deref(), case["oid"].as_str());
        assert_eq!(parsed.confirmation_code_required, case["cc"].as_bool());
        assert_eq!(parsed.to_string(), text);
        assert_eq!(parsed.to_qr_text(), format!("LPA:{text}"));
        assert_eq!(
            ActivationCode::parse(&format!("LPA:{text}")).unwrap(),
            parsed
        );
    }
    for bad in ac["invalid"].as_array().unwrap() {
        let bad = bad.as_str().unwrap();
        assert!(ActivationCode::parse(bad).is_err(), "{bad:?} accepted");
    }
    let ac = ActivationCode::new("localhost:8443", "QR-1");
    assert_eq!(ac.to_qr_text(), "LPA:1$localhost:8443$QR-1");
    assert_eq!(ActivationCode::parse(&ac.to_qr_text()).unwrap(), ac);
}

#[test]
fn ski_field_is_an_octet_string_tlv() {
    let der = encode(&ski(NIST_CI)).unwrap();
    assert_eq!(&der[..2], [0x04, 0x14]);
    assert!(SubjectKeyIdentifier::new(vec![]).is_err());
}

#[test]
fn bpp_carries_trace_segments_byte_for_byte() {
    use rsp_asn1::download::{BoundProfilePackage, Segment86, Segment87, Segment88};
    let g = golden();
    let segs = &g["bpp_segments"];
    let tlvs = |k: &str| -> Vec<Vec<u8>> {
        segs[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| h(s.as_str().unwrap()))
            .collect()
    };
    // Strip tag and length: the types carry the segment body, the element tag is [6]/[7]/[8].
    let body = |tlv: &[u8]| rsp_asn1::tlv::Tlv::read_exact(tlv).unwrap().value.to_vec();
    let bpp = BoundProfilePackage {
        initialise_secure_channel_request: rsp_asn1::raw::Signed::new(crate::common::isc_request())
            .unwrap(),
        first_sequence_of87: tlvs("first_sequence_of87")
            .iter()
            .map(|t| Segment87(body(t).into()))
            .collect(),
        sequence_of88: tlvs("sequence_of88")
            .iter()
            .map(|t| Segment88(body(t).into()))
            .collect(),
        second_sequence_of87: Some(
            tlvs("second_sequence_of87")
                .iter()
                .map(|t| Segment87(body(t).into()))
                .collect(),
        ),
        sequence_of86: tlvs("sequence_of86")
            .iter()
            .map(|t| Segment86(body(t).into()))
            .collect(),
        extensions: None,
    };
    let der = encode(&bpp).unwrap();
    let top = rsp_asn1::tlv::Tlv::read_exact(&der).unwrap();
    assert_eq!(top.tag, [0xBF, 0x36]);
    let parts: Vec<_> = top.children().map(|c| c.unwrap()).collect();
    let tags: Vec<&[u8]> = parts.iter().map(|p| p.tag).collect();
    assert_eq!(
        tags,
        [&[0xBF, 0x23][..], &[0xA0], &[0xA1], &[0xA2], &[0xA3]]
    );
    for (part, key) in parts[1..].iter().zip([
        "first_sequence_of87",
        "sequence_of88",
        "second_sequence_of87",
        "sequence_of86",
    ]) {
        let inner: Vec<Vec<u8>> = part.children().map(|c| c.unwrap().raw.to_vec()).collect();
        assert_eq!(inner, tlvs(key), "{key}");
        assert!(
            inner.iter().all(|t| t.len() <= 1020),
            "{key}: segment over 1020 bytes"
        );
    }
    assert_eq!(decode::<BoundProfilePackage>(&der).unwrap(), bpp);
}
