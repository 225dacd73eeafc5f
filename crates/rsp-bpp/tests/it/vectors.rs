//! SGP.22 BSP conformance: the KDF, ECKA and segment vectors of the third-party SM-DP+ trace
//! (`testdata/bsp-vectors.json`, transcribed from the shared vectors V1–V5), byte for byte, on
//! every engine.

use rsp_auth::ecdh::EphemeralKey;
use rsp_auth::{Backend, Curve};
use rsp_bpp::kdf::derive_session_keys;
use rsp_bpp::{Bsp, Engine};
use serde_json::Value;

fn vectors() -> Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/bsp-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn a16(v: &Value) -> [u8; 16] {
    h(v).try_into().unwrap()
}

const ENGINES: [Engine; 3] = [Engine::Auto, Engine::Portable, Engine::Fused];

#[test]
fn kdf_v1_v3() {
    for k in vectors()["kdf"].as_array().unwrap() {
        let shs: [u8; 32] = h(&k["shared_secret"]).try_into().unwrap();
        let eid: [u8; 16] = h(&k["eid"]).try_into().unwrap();
        let keys = derive_session_keys(&shs, &h(&k["host_id"]), &eid);
        assert_eq!(keys.s_enc, a16(&k["s_enc"]), "{}", k["name"]);
        assert_eq!(keys.s_mac, a16(&k["s_mac"]), "{}", k["name"]);
        assert_eq!(keys.initial_mcv, a16(&k["initial_mcv"]), "{}", k["name"]);
    }
}

#[test]
fn ecka_v2_then_kdf_v3() {
    let v = vectors();
    let e = &v["ecka"];
    let key =
        EphemeralKey::from_scalar(Curve::NistP256, h(&e["smdp_otsk"]).try_into().unwrap()).unwrap();
    assert_eq!(key.public_point()[..], h(&e["smdp_otpk"])[..]);
    for b in [Backend::AwsLc, Backend::RustCrypto] {
        let shs = key.shared_secret(&h(&e["euicc_otpk"]), b).unwrap();
        assert_eq!(shs[..], h(&e["shared_secret"])[..]);
        let v3 = &v["kdf"][1];
        let keys =
            derive_session_keys(&shs, &h(&v3["host_id"]), &h(&v3["eid"]).try_into().unwrap());
        assert_eq!(keys.s_enc, a16(&v3["s_enc"]));
    }
}

fn run_steps(set: &Value, engine: Engine) {
    let mut bsp = Bsp::new(
        &a16(&set["s_enc"]),
        &a16(&set["s_mac"]),
        &a16(&set["initial_mcv"]),
        engine,
    );
    let mut rx = Bsp::new(
        &a16(&set["s_enc"]),
        &a16(&set["s_mac"]),
        &a16(&set["initial_mcv"]),
        engine,
    );
    for (i, s) in set["steps"].as_array().unwrap().iter().enumerate() {
        let tag = u8::from_str_radix(s["tag"].as_str().unwrap(), 16).unwrap();
        let p = h(&s["plaintext"]);
        let mut out = Vec::new();
        match s["op"].as_str().unwrap() {
            "encrypt_and_mac" => bsp.encrypt_and_mac(tag, &p, &mut out),
            "mac_only" => bsp.mac_only(tag, &p, &mut out),
            op => panic!("{op}"),
        }
        assert_eq!(
            hex::encode(&out),
            s["expected"].as_str().unwrap(),
            "step {i} {engine:?}"
        );
        assert!(out.len() <= 1020);
        // And the receiving side gets the plaintext back.
        let back = match s["op"].as_str().unwrap() {
            "encrypt_and_mac" => rx.verify_and_decrypt(tag, &out).unwrap(),
            _ => rx.verify_mac_only(tag, &out).unwrap(),
        };
        assert_eq!(back, p);
    }
    assert_eq!(bsp.mcv(), rx.mcv());
}

#[test]
fn session_key_segments_v4() {
    for e in ENGINES {
        run_steps(&vectors()["session_segments"], e);
    }
}

#[test]
fn ppk_segments_v5_are_1020_bytes() {
    let v = vectors();
    for e in ENGINES {
        run_steps(&v["ppk_segments"], e);
    }
    for s in v["ppk_segments"]["steps"].as_array().unwrap() {
        assert_eq!(h(&s["plaintext"]).len(), 1007);
        assert_eq!(h(&s["expected"]).len(), 1020);
    }
}

/// `check` on a BPP made of the third-party SM-DP+'s segments (V2–V5): BF23 around its otPK.DP
/// and hostId (its smdpSign is not in the trace, so not checked), then A0/A1/A2 under the
/// session keys and A3 under the PPKs. Every MAC verifies, the keys and the PPKs are the
/// trace's, the segments open to the trace's plaintexts; a 1036-byte segment (pySim's own
/// chunking) breaks the 1020-byte rule.
#[test]
fn the_checker_opens_the_third_party_bpp() {
    use rsp_bpp::check::{check, Inputs, Outcome, Secret};
    let v = vectors();
    let tlv = |tag: &[u8], value: &[u8]| {
        let mut out = Vec::new();
        rsp_asn1::tlv::push_tlv(&mut out, tag, value);
        out
    };
    let steps = |k: &str| -> Vec<Vec<u8>> {
        v[k]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| h(&s["expected"]))
            .collect()
    };
    let (session, ppk) = (steps("session_segments"), steps("ppk_segments"));
    let kdf = &v["kdf"].as_array().unwrap()[1];
    assert_eq!(kdf["name"], "V3");
    let bf23 = tlv(
        &[0xBF, 0x23],
        &[
            tlv(&[0x82], &[1]),
            tlv(&[0x80], &[0x11; 16]),
            tlv(
                &[0xA6],
                &[
                    tlv(&[0x80], &[0x88]),
                    tlv(&[0x81], &[0x10]),
                    tlv(&[0x84], &h(&kdf["host_id"])),
                ]
                .concat(),
            ),
            tlv(&[0x5F, 0x49], &h(&v["ecka"]["smdp_otpk"])),
            tlv(&[0x5F, 0x37], &[0; 64]),
        ]
        .concat(),
    );
    let bpp = |a3: &[Vec<u8>]| {
        tlv(
            &[0xBF, 0x36],
            &[
                bf23.clone(),
                tlv(&[0xA0], &session[0]),
                tlv(&[0xA1], &session[1]),
                tlv(&[0xA2], &session[2]),
                tlv(&[0xA3], &a3.concat()),
            ]
            .concat(),
        )
    };
    let inputs = Inputs {
        secret: Secret::DpOtsk(h(&v["ecka"]["smdp_otsk"]).try_into().unwrap()),
        curve: Curve::NistP256,
        eid: h(&kdf["eid"]).try_into().unwrap(),
        euicc_otpk: Some(h(&v["ecka"]["euicc_otpk"])),
        dp_pb: None,
        transaction_id: None,
        backend: Backend::RustCrypto,
    };
    let r = check(&bpp(&ppk), &inputs);
    assert!(r.failure().is_none(), "{:?}", r.steps);
    assert_eq!(
        r.shared_secret.unwrap().to_vec(),
        h(&v["ecka"]["shared_secret"])
    );
    let keys = r.session_keys.as_ref().unwrap();
    assert_eq!(
        (keys.s_enc, keys.s_mac, keys.initial_mcv),
        (
            a16(&kdf["s_enc"]),
            a16(&kdf["s_mac"]),
            a16(&kdf["initial_mcv"])
        )
    );
    let p = r.ppk.as_ref().unwrap();
    let pv = &v["ppk_segments"];
    assert_eq!(
        (p.s_enc, p.s_mac, p.initial_mcv),
        (
            a16(&pv["s_enc"]),
            a16(&pv["s_mac"]),
            a16(&pv["initial_mcv"])
        )
    );
    let plain: Vec<Vec<u8>> = ["session_segments", "ppk_segments"]
        .iter()
        .flat_map(|k| {
            v[*k]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| h(&s["plaintext"]))
        })
        .collect();
    let opened: Vec<Vec<u8>> = r.segments.iter().map(|s| s.plaintext.clone()).collect();
    assert_eq!(opened, plain);
    let skipped: Vec<&str> = r
        .steps
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Skipped(_)))
        .map(|s| s.part.as_str())
        .collect();
    assert_eq!(skipped, ["BF23 80", "BF23 5F37"]);

    // A 1036-byte 86 TLV (1008 plaintext bytes padded to 1024): refused by the size rule.
    let mut big = vec![0x86, 0x82, 0x04, 0x08];
    big.extend(vec![0; 0x408]);
    let r = check(&bpp(&[ppk[0].clone(), big]), &inputs);
    let (step, f) = r.failure().unwrap();
    assert_eq!(step.part, "A3 86[1]");
    assert_eq!(
        f.error_reason,
        rsp_asn1::notification::ErrorReason::scp03tStructureError
    );
    assert!(f.detail.contains("1036-byte"), "{}", f.detail);
    // The segments out of order: the MAC chain breaks at the first one moved.
    let r = check(&bpp(&[ppk[1].clone(), ppk[0].clone()]), &inputs);
    assert_eq!(r.failure().unwrap().0.part, "A3 86[0]");
}
