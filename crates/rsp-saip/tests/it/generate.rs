//! The generated minimal USIM profile: valid, exact sizes, values read back, and the same bytes
//! as Python asn1tools produces from its own decoding (PEDefinitions v3.3.1 in `../shared`).

use std::io::Write as _;
use std::process::{Command, Stdio};

use rsp_saip::{MinimalUsim, NumberPlan, PeKind, Personalisation, PlanError, ProfilePackage};

#[test]
fn default_profile_validates_and_reads_back() {
    let g = MinimalUsim::default();
    let pkg = g.build().unwrap();
    let h = pkg.validate().unwrap();
    assert_eq!(h.mandatory_services, ["usim", "milenage"]);
    assert_eq!(h.mandatory_gfste, ["2.23.143.1.2.1", "2.23.143.1.2.4"]);
    let v = pkg.values();
    assert_eq!(v.header_iccid.as_deref(), Some(g.iccid.as_str()));
    assert_eq!(v.ef_iccid.as_deref(), Some(g.iccid.as_str()));
    assert_eq!(v.imsi.as_deref(), Some("001010000000001"));
    assert_eq!(v.spn.as_deref(), Some("smdp-sim"));
    assert_eq!(v.aka, vec![(g.ki, g.opc)]);
    let kinds: Vec<PeKind> = pkg.elements.iter().map(|e| e.kind).collect();
    use PeKind::*;
    assert_eq!(
        kinds,
        [
            Header,
            Mf,
            PukCodes,
            PinCodes,
            Usim,
            PinCodes,
            AkaParameter,
            End
        ]
    );
    // A few KB at most, as the digest says of minimal USIM profiles.
    assert!(pkg.to_der().len() < 2048, "{}", pkg.to_der().len());
    // Re-parsing gives the same bytes; the listing shows the values.
    assert_eq!(ProfilePackage::parse(&pkg.to_der()).unwrap(), pkg);
    let listing = pkg.listing();
    assert!(listing.contains("IMSI 001010000000001") && listing.contains("\"smdp-sim\""));
}

#[test]
fn padding_reaches_exact_sizes() {
    let base = MinimalUsim::default().build().unwrap().to_der().len();
    let mut sizes: Vec<usize> = (base + 40..base + 700).collect();
    sizes.extend([
        4096,
        16_384,
        32_767,
        32_768,
        32_900,
        50 * 1024,
        65_535,
        65_536,
        65_537,
        100_000,
        262_144,
    ]);
    for target in sizes {
        let pkg = MinimalUsim {
            target_size: Some(target),
            ..Default::default()
        }
        .build()
        .unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(pkg.to_der().len(), target);
        pkg.validate().unwrap();
        assert!(pkg
            .elements
            .iter()
            .any(|e| e.kind == PeKind::GenericFileManagement));
    }
    let e = MinimalUsim {
        target_size: Some(base + 5),
        ..Default::default()
    }
    .build()
    .unwrap_err();
    assert!(
        e.to_string().contains("below the smallest padded profile"),
        "{e}"
    );
    assert_eq!(
        MinimalUsim {
            target_size: Some(base),
            ..Default::default()
        }
        .build()
        .unwrap()
        .to_der()
        .len(),
        base
    );
}

#[test]
fn bad_generator_inputs_are_refused() {
    for g in [
        MinimalUsim {
            iccid: "8900101000000000002".into(), // 19 digits, wrong Luhn digit
            ..Default::default()
        },
        MinimalUsim {
            imsi: "00101".into(),
            ..Default::default()
        },
        MinimalUsim {
            spn: Some("a name far too long for EF.SPN".into()),
            ..Default::default()
        },
    ] {
        assert!(g.build().is_err(), "{g:?}");
    }
}

#[test]
fn personalising_the_generated_profile() {
    let mut pkg = MinimalUsim::default().build().unwrap();
    let before = pkg.to_der();
    let p = Personalisation {
        iccid: Some("89882470000012345670".into()),
        imsi: Some("23415987654".into()), // shorter: padded with FF in the 9-byte EF
        ki: Some([1; 16]),
        opc: Some([2; 16]),
        spn: Some("Ωmega".into()), // Ω is in the GSM default alphabet (15)
    };
    pkg.personalise(&p).unwrap();
    pkg.validate().unwrap();
    assert_eq!(
        pkg.to_der().len(),
        before.len(),
        "every value fits in place"
    );
    let v = pkg.values();
    assert_eq!(v.ef_iccid.as_deref(), Some("89882470000012345670"));
    assert_eq!(v.header_iccid.as_deref(), Some("89882470000012345670"));
    assert_eq!(v.imsi.as_deref(), Some("23415987654"));
    assert_eq!(v.spn.as_deref(), Some("Ωmega"));
    assert_eq!(v.aka, vec![([1; 16], [2; 16])]);

    // UCS2 for characters outside the default alphabet.
    pkg.personalise(&Personalisation {
        spn: Some("Café ☎".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(pkg.spn().as_deref(), Some("Café ☎"));
}

#[test]
fn ef_spn_and_ef_imsi_codings() {
    use rsp_saip::personalise::{decode_ef_spn, encode_ef_imsi, encode_ef_spn};
    // GSM default alphabet: '@' is 00, '_' is 11, '$' is 02 (TS 23.038 §6.2.1).
    assert_eq!(
        hex::encode_upper(encode_ef_spn("A@_$z").unwrap()),
        "01410011027AFFFFFFFFFFFFFFFFFFFFFF"
    );
    // UCS2: 80 then UTF-16BE (TS 31.102 Annex A).
    assert_eq!(
        hex::encode_upper(&encode_ef_spn("€").unwrap()[..4]),
        "018020AC"
    );
    assert!(encode_ef_spn("sixteen chars ok").is_ok());
    assert!(encode_ef_spn("seventeen chars!!").is_err());
    assert!(
        encode_ef_spn("€€€€€€€€").is_err(),
        "8 UCS2 characters need 17 bytes"
    );
    assert_eq!(
        decode_ef_spn(&encode_ef_spn("GSMA_TEST").unwrap()).as_deref(),
        Some("GSMA_TEST")
    );
    // EF.IMSI for 15 digits (TS 31.102 §4.2.2; the TS.48 value) and for 14.
    assert_eq!(
        hex::encode_upper(encode_ef_imsi("001010123456789").unwrap()),
        "080910101032547698"
    );
    assert_eq!(
        hex::encode_upper(encode_ef_imsi("00101012345678").unwrap()),
        "0801101010325476F8"
    );
}

#[test]
fn number_plan_allocates_unique_valid_numbers() {
    let plan = NumberPlan {
        iccid: rsp_saip::numbers::IccidRange {
            prefix: "8988247".into(),
            first: 1000,
            last: 1999,
        },
        imsi: rsp_saip::numbers::ImsiRange {
            mcc: "310".into(),
            mnc: "410".into(),
            first_msin: 500,
        },
        spn: Some("Test".into()),
    };
    plan.check().unwrap();
    assert_eq!(plan.capacity(), 1000);
    let mut rng = rsp_auth::rng::rng(Some(7));
    let mut iccids = std::collections::HashSet::new();
    let mut keys = std::collections::HashSet::new();
    for n in 0..plan.capacity() {
        let p = plan.allocate(n, &mut rng).unwrap();
        let iccid = p.iccid.unwrap();
        assert_eq!(iccid.len(), 20);
        assert!(rsp_asn1::ids::Iccid::from_digits(&iccid).unwrap().luhn_ok());
        assert!(iccids.insert(iccid), "duplicate ICCID at {n}");
        let imsi = p.imsi.unwrap();
        assert_eq!(imsi.len(), 15);
        assert!(imsi.starts_with("310410"));
        assert!(keys.insert(p.ki.unwrap()));
        assert_ne!(p.ki, p.opc);
    }
    assert_eq!(plan.iccid(0).unwrap(), "89882470000000010005");
    assert_eq!(plan.imsi(0).unwrap(), "310410000000500");
    assert_eq!(
        plan.allocate(1000, &mut rng).unwrap_err(),
        PlanError::Exhausted {
            serial: 1000,
            capacity: 1000
        }
    );
    // Seeded: the same keys again.
    let a = plan.allocate(3, &mut rsp_auth::rng::rng(Some(1))).unwrap();
    let b = plan.allocate(3, &mut rsp_auth::rng::rng(Some(1))).unwrap();
    assert_eq!(a, b);
    // Allocated values personalise the generated template.
    let mut pkg = MinimalUsim::default().build().unwrap();
    pkg.personalise(&a).unwrap();
    assert_eq!(pkg.values().ef_iccid, a.iccid);
    assert_eq!(pkg.values().spn.as_deref(), Some("Test"));

    for bad in [
        NumberPlan {
            iccid: rsp_saip::numbers::IccidRange {
                prefix: "1234567".into(),
                ..plan.iccid.clone()
            },
            ..plan.clone()
        },
        NumberPlan {
            iccid: rsp_saip::numbers::IccidRange {
                last: 10,
                ..plan.iccid.clone()
            },
            ..plan.clone()
        },
        NumberPlan {
            imsi: rsp_saip::numbers::ImsiRange {
                mnc: "4".into(),
                ..plan.imsi.clone()
            },
            ..plan.clone()
        },
        NumberPlan {
            imsi: rsp_saip::numbers::ImsiRange {
                first_msin: 999_999_999,
                ..plan.imsi.clone()
            },
            ..plan.clone()
        },
    ] {
        assert!(matches!(bad.check(), Err(PlanError::Invalid(_))), "{bad:?}");
        assert!(bad.iccid(0).is_err());
    }
    NumberPlan::default().check().unwrap();
}

#[derive(serde::Deserialize)]
struct Element {
    name: String,
    identical: bool,
    length: usize,
}

#[derive(serde::Deserialize)]
struct Report {
    elements: Vec<Element>,
    values: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Runs `tests/asn1tools/pe_roundtrip.py` on a package; `None` when shared or asn1tools is
/// missing outside CI.
fn asn1tools(der: &[u8]) -> Option<Report> {
    let shared = rsp_shared::dir_for_test("PEDefinitions for the asn1tools check")?;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/asn1tools/pe_roundtrip.py"
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut child = Command::new(&python)
        .arg(script)
        .env("RSP_SHARED_DIR", &shared)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    child.stdin.take().unwrap().write_all(der).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("No module named 'asn1tools'")
            && std::env::var("RSP_REQUIRE_SHARED").as_deref() != Ok("1")
        {
            eprintln!("NOTICE: Python asn1tools not installed; skipping");
            return None;
        }
        panic!("pe_roundtrip.py failed:\n{stderr}");
    }
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn asn1tools_decodes_and_reencodes_the_generated_profile_identically() {
    let g = MinimalUsim {
        target_size: Some(40_000),
        ..Default::default()
    };
    let mut pkg = g.build().unwrap();
    pkg.personalise(&Personalisation {
        iccid: Some("89882470000012345670".into()),
        imsi: Some("310410123456789".into()),
        ki: Some([0xA5; 16]),
        opc: Some([0x5A; 16]),
        spn: Some("Café ☎".into()),
    })
    .unwrap();
    let der = pkg.to_der();
    let Some(r) = asn1tools(&der) else { return };
    let names: Vec<&str> = r.elements.iter().map(|e| e.name.as_str()).collect();
    let ours: Vec<&str> = pkg.elements.iter().map(|e| e.kind.name()).collect();
    assert_eq!(names, ours);
    for (e, p) in r.elements.iter().zip(&pkg.elements) {
        assert!(
            e.identical,
            "{}: asn1tools re-encodes it differently",
            e.name
        );
        assert_eq!(e.length, p.raw().len(), "{}", e.name);
    }
    let v = |k: &str| r.values[k].as_str().unwrap().to_string();
    assert_eq!(v("header_iccid"), "89882470000012345670");
    assert_eq!(v("ef_iccid"), "98884207000021436507");
    assert_eq!(v("ef_imsi"), "083901141032547698");
    assert_eq!(
        v("ef_spn"),
        hex::encode_upper(rsp_saip::personalise::encode_ef_spn("Café ☎").unwrap())
    );
    assert_eq!(
        r.values["aka"],
        serde_json::json!([[hex::encode_upper([0xA5; 16]), hex::encode_upper([0x5A; 16])]])
    );
}

#[test]
fn asn1tools_reads_personalised_ts48_values_like_we_do() {
    let Some(der) = rsp_shared::file_for_test("profiles/ts48/ts48-v7-SAIP2.3_NoBERTLV.der") else {
        return;
    };
    let mut pkg = ProfilePackage::parse(&der).unwrap();
    // TS.48 fills EF.SPN from a fill pattern ("GSMA_TEST" in the GSM alphabet).
    assert_eq!(pkg.spn().as_deref(), Some("GSMA_TEST"));
    pkg.personalise(&Personalisation {
        imsi: Some("0010112345".into()),
        spn: Some("Operator".into()),
        ..Default::default()
    })
    .unwrap();
    pkg.validate().unwrap();
    assert_eq!(pkg.spn().as_deref(), Some("Operator"));
    assert_eq!(pkg.imsi().as_deref(), Some("0010112345"));
    // The fill content added to EF.SPN (83 11 + 17 bytes) is the only growth.
    assert_eq!(pkg.to_der().len(), der.len() + 19);
    let Some(r) = asn1tools(&pkg.to_der()) else {
        return;
    };
    assert!(r.elements.iter().all(|e| e.identical));
    assert_eq!(
        r.values["ef_spn"].as_str().unwrap(),
        hex::encode_upper(rsp_saip::personalise::encode_ef_spn("Operator").unwrap())
    );
    assert_eq!(r.values["ef_imsi"].as_str().unwrap(), "060110102143F5FFFF");
}

/// The service → UICCCapability map agrees with the bit numbers rsp-asn1 transcribed from
/// RSPDefinitions (where both define the bit).
#[test]
fn uicc_capability_bits_match_rspdefinitions() {
    use rsp_asn1::bits::uicc_capability as u;
    use rsp_saip::uicc_capability_bit as bit;
    for (service, want) in [
        ("contactless", u::CONTACTLESS_SUPPORT),
        ("usim", u::USIM_SUPPORT),
        ("isim", u::ISIM_SUPPORT),
        ("csim", u::CSIM_SUPPORT),
        ("milenage", u::AKA_MILENAGE),
        ("cave", u::AKA_CAVE),
        ("tuak128", u::AKA_TUAK128),
        ("tuak256", u::AKA_TUAK256),
        ("gba-usim", u::GBA_AUTHEN_USIM),
        ("gba-isim", u::GBA_AUTHEN_ISIM),
        ("mbms", u::MBMS_AUTHEN_USIM),
        ("eap", u::EAP_CLIENT),
        ("javacard", u::JAVACARD),
        ("multos", u::MULTOS),
        ("multiple-usim", u::MULTIPLE_USIM_SUPPORT),
        ("multiple-isim", u::MULTIPLE_ISIM_SUPPORT),
        ("multiple-csim", u::MULTIPLE_CSIM_SUPPORT),
        ("ber-tlv", u::BER_TLV_FILE_SUPPORT),
        ("dfLink", u::DF_LINK_SUPPORT),
        ("cat-tp", u::CAT_TP),
        ("get-identity", u::GET_IDENTITY),
        ("profile-a-x25519", u::PROFILE_A_X25519),
        ("profile-b-p256", u::PROFILE_B_P256),
        ("suciCalculatorApi", u::SUCI_CALCULATOR_API),
    ] {
        assert_eq!(bit(service), Some(want), "{service}");
    }
    // Every service of the header's list maps (usim-test-algorithm to PEDefinitions' bit 8).
    for s in rsp_saip::package::SERVICES {
        assert!(bit(s).is_some(), "{s}");
    }
    assert_eq!(bit("usim-test-algorithm"), Some(8));
}
