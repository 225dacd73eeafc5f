//! Round trips, tolerance of unknown extension fields, raw signed slices, and malformed DER
//! for every sample in `tests/common`.

use proptest::prelude::*;
use rsp_asn1::auth::{AuthenticateServerResponse, EuiccSigned1};
use rsp_asn1::notification::PendingNotification;
use rsp_asn1::raw::Signed;
use rsp_asn1::{decode, encode};

/// Splits a DER TLV into (header length, content length).
fn tlv_header(der: &[u8]) -> (usize, usize) {
    let mut i = 1;
    if der[0] & 0x1F == 0x1F {
        while der[i] & 0x80 != 0 {
            i += 1;
        }
        i += 1;
    }
    let first = der[i] as usize;
    i += 1;
    if first < 0x80 {
        return (i, first);
    }
    let n = first & 0x7F;
    let len = der[i..i + n]
        .iter()
        .fold(0usize, |a, b| (a << 8) | *b as usize);
    (i + n, len)
}

fn der_len(len: usize) -> Vec<u8> {
    match len {
        0..=0x7F => vec![len as u8],
        0x80..=0xFF => vec![0x81, len as u8],
        0x100..=0xFFFF => vec![0x82, (len >> 8) as u8, len as u8],
        _ => vec![0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8],
    }
}

/// Rebuilds `der` with `extra` appended to the contents of its outermost TLV.
fn append_to_contents(der: &[u8], extra: &[u8]) -> Vec<u8> {
    let (hl, cl) = tlv_header(der);
    let tag_len = hl - der_len(cl).len();
    let mut out = der[..tag_len].to_vec();
    out.extend(der_len(cl + extra.len()));
    out.extend(&der[hl..hl + cl]);
    out.extend(extra);
    out
}

/// Applies `f` to the contents of the outer TLV (e.g. to reach a CHOICE's alternative).
fn map_contents(der: &[u8], f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let (hl, cl) = tlv_header(der);
    let tag_len = hl - der_len(cl).len();
    let inner = f(&der[hl..hl + cl]);
    let mut out = der[..tag_len].to_vec();
    out.extend(der_len(inner.len()));
    out.extend(inner);
    out
}

/// Tags no RSPDefinitions v2.2 type uses: v3-style additions.
const UNKNOWN_FIELDS: &[&[u8]] = &[
    &[0x9F, 0x7E, 0x02, 0xAB, 0xCD],
    &[0xBF, 0x7D, 0x03, 0x80, 0x01, 0x01],
];

#[test]
fn every_sample_round_trips() {
    let samples = crate::common::samples();
    assert!(samples.len() >= 60, "only {} samples", samples.len());
    for s in &samples {
        let again = (s.reencode)(&s.der).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(again, s.der, "{}: re-encoding differs", s.name);
        assert!(
            (s.equals_value)(&s.der).unwrap(),
            "{}: value differs",
            s.name
        );
    }
}

#[test]
fn extensible_types_keep_unknown_trailing_fields() {
    let mut checked = 0;
    for s in crate::common::samples().iter().filter(|s| s.extensible) {
        for extra in [UNKNOWN_FIELDS[0].to_vec(), UNKNOWN_FIELDS.concat()] {
            let extended = append_to_contents(&s.der, &extra);
            let again = (s.reencode)(&extended)
                .unwrap_or_else(|e| panic!("{}: unknown field refused: {e}", s.name));
            assert_eq!(again, extended, "{}: extension not kept in place", s.name);
            assert!(
                !(s.equals_value)(&extended).unwrap(),
                "{}: extension silently dropped",
                s.name
            );
        }
        checked += 1;
    }
    assert!(checked >= 45, "only {checked} extensible samples");
}

#[test]
fn choice_alternatives_keep_unknown_trailing_fields() {
    // BF38 A0 {…}: the extension goes inside the alternative, behind the explicit CHOICE tag.
    for s in crate::common::samples().iter().filter(|s| {
        matches!(
            s.name,
            "authenticateServerResponseOk"
                | "authenticateServerResponseError"
                | "prepareDownloadResponseOk"
                | "prepareDownloadResponseError"
                | "cancelSessionResponseOk"
        )
    }) {
        let extended = map_contents(&s.der, |alt| append_to_contents(alt, UNKNOWN_FIELDS[0]));
        let again = (s.reencode)(&extended).unwrap_or_else(|e| panic!("{}: {e}", s.name));
        assert_eq!(again, extended, "{}", s.name);
    }
}

#[test]
fn signed_part_keeps_received_bytes_with_v3_extension() {
    // A v3 eUICC appends fields to euiccSigned1; the signature covers them, so the raw TLV must
    // be exactly what arrived, not a re-encoding of the fields we know.
    let signed = encode(&crate::common::euicc_signed1()).unwrap();
    let v3_signed = append_to_contents(&signed, &[0x85, 0x01, 0x00]);
    let mut ok_body = v3_signed.clone();
    ok_body.extend([0x5F, 0x37, 0x40]);
    ok_body.extend([0x11; 64]);
    let cert = [0x30, 0x03, 0x02, 0x01, 0x01];
    ok_body.extend(cert);
    ok_body.extend(cert);
    let mut bf38 = vec![0xA0];
    bf38.extend(der_len(ok_body.len()));
    bf38.extend(&ok_body);
    let mut der = vec![0xBF, 0x38];
    der.extend(der_len(bf38.len()));
    der.extend(&bf38);

    let AuthenticateServerResponse::AuthenticateResponseOk(ok) =
        decode::<AuthenticateServerResponse>(&der).unwrap()
    else {
        panic!("not ok");
    };
    assert_eq!(ok.euicc_signed1.raw(), &v3_signed[..]);
    let ext = ok.euicc_signed1.extensions.as_ref().expect("v3 field kept");
    assert_eq!(ext.tlvs(), [vec![0x85, 0x01, 0x00]]);
    assert_eq!(ok.euicc_signed1.transaction_id, crate::common::txid());
    assert_eq!(
        encode(&AuthenticateServerResponse::AuthenticateResponseOk(ok)).unwrap(),
        der
    );
}

#[test]
fn signed_part_is_not_re_encoded() {
    // NotificationEvent with a trailing zero bit: valid BER-shaped DER TLV, but not what DER
    // requires for a named BIT STRING. The signature covers these bytes, so they are kept even
    // though a re-encoding of the value is minimal.
    let md = encode(&crate::common::notification_metadata(9, 1)).unwrap();
    let pos = md.windows(3).position(|w| w == [0x81, 0x02, 0x06]).unwrap();
    let mut loose = md[..pos].to_vec();
    loose.extend([0x81, 0x03, 0x05, 0x40, 0x00]);
    loose.extend(&md[pos + 4..]);
    loose[2] += 1;
    let s = Signed::<rsp_asn1::notification::NotificationMetadata>::from_der(&loose).unwrap();
    assert_eq!(s.raw(), &loose[..]);
    assert_eq!(encode(s.value()).unwrap(), md);
    assert_eq!(s.profile_management_operation.set_bits(), [1]);
}

#[test]
fn signed_from_der_and_new_agree() {
    let s = Signed::new(crate::common::euicc_signed1()).unwrap();
    let d = Signed::<EuiccSigned1>::from_der(s.raw()).unwrap();
    assert_eq!(s, d);
    assert!(Signed::<EuiccSigned1>::from_der(&s.raw()[..s.raw().len() - 1]).is_err());
}

#[test]
fn truncation_at_every_length_is_an_error() {
    for s in crate::common::samples() {
        for cut in 0..s.der.len() {
            assert!(
                (s.reencode)(&s.der[..cut]).is_err(),
                "{}: truncated to {cut} bytes decoded",
                s.name
            );
        }
    }
}

#[test]
fn wrong_lengths_tags_and_forms_are_errors() {
    for s in crate::common::samples() {
        let (hl, cl) = tlv_header(&s.der);
        let tag_len = hl - der_len(cl).len();
        let rebuild = |len_bytes: &[u8], contents: &[u8], trailer: &[u8]| {
            let mut v = s.der[..tag_len].to_vec();
            v.extend(len_bytes);
            v.extend(contents);
            v.extend(trailer);
            v
        };
        let contents = &s.der[hl..];
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("length + 1", rebuild(&der_len(cl + 1), contents, &[])),
            (
                "length + 1 with a spare byte",
                rebuild(&der_len(cl + 1), contents, &[0]),
            ),
            ("indefinite length", rebuild(&[0x80], contents, &[0, 0])),
            (
                "huge length",
                rebuild(&[0x84, 0xFF, 0xFF, 0xFF, 0xF0], contents, &[]),
            ),
            (
                "length of length 9",
                rebuild(&[0x89, 1, 0, 0, 0, 0, 0, 0, 0, 0], contents, &[]),
            ),
            (
                "non-minimal length",
                rebuild(&[0x82, (cl >> 8) as u8, cl as u8], contents, &[]),
            ),
            ("trailing byte", [s.der.clone(), vec![0]].concat()),
            ("trailing TLV", [s.der.clone(), vec![0x80, 0x00]].concat()),
            ("wrong class", {
                let mut v = s.der.clone();
                v[0] ^= 0x40;
                v
            }),
            ("primitive form", {
                let mut v = s.der.clone();
                v[0] &= !0x20;
                v
            }),
            ("empty", vec![]),
        ];
        for (what, bad) in cases {
            if what == "length + 1" && cl == 0 {
                continue;
            }
            if what == "non-minimal length" && cl >= 0x100 {
                continue;
            }
            assert!(
                (s.reencode)(&bad).is_err(),
                "{}: {what} was accepted: {}",
                s.name,
                hex::encode_upper(&bad)
            );
        }
    }
}

#[test]
fn unknown_choice_alternative_is_an_error() {
    // v3 ctxParamsForDeviceChange (A1) inside euiccSigned1 is not a v2 alternative.
    let mut der = encode(&crate::common::ctx_params1(None)).unwrap();
    der[0] = 0xA1;
    assert!(decode::<rsp_asn1::auth::CtxParams1>(&der).is_err());
    // A PendingNotification that is neither BF37 nor 30.
    assert!(decode::<PendingNotification>(&[0xBF, 0x2F, 0x00]).is_err());
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    // 10 000 nested constructed tags as an ExtCardResource-free EUICCInfo2 tail: the decoder
    // must fail cleanly (recursion limit or tag mismatch), never blow the stack.
    let mut der = vec![0x04, 0x00];
    for _ in 0..10_000 {
        let mut outer = vec![0xA0];
        outer.extend(der_len(der.len()));
        outer.extend(der);
        der = outer;
    }
    let wrapped = {
        let mut v = vec![0xBF, 0x20];
        v.extend(der_len(der.len()));
        v.extend(&der);
        v
    };
    assert!(decode::<rsp_asn1::auth::EUICCInfo1>(&wrapped).is_err());
    assert!(decode::<PendingNotification>(&wrapped).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random corruption of any sample: an error or a value that re-encodes stably, never a panic.
    #[test]
    fn mutated_samples_never_panic(idx in 0usize..1000, muts in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let samples = crate::common::samples();
        let s = &samples[idx % samples.len()];
        let mut der = s.der.clone();
        for (pos, byte) in muts {
            let p = pos % der.len();
            der[p] = byte;
        }
        if let Ok(again) = (s.reencode)(&der) {
            let third = (s.reencode)(&again).expect("our own encoding must decode");
            prop_assert_eq!(third, again);
        }
    }

    /// Arbitrary bytes fed to every top-level decoder.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for s in crate::common::samples().iter().step_by(7) {
            let _ = (s.reencode)(&bytes);
        }
    }
}
