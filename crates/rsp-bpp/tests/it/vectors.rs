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
