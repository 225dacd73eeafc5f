//! The four GSMA TS.48 v7 test profiles (shared folder): parsed, validated, re-encoded byte for
//! byte, and read consistently with the value notation `.txt` published beside each `.der`.

use rsp_saip::{Error, PeKind, ProfilePackage};

const PROFILES: [&str; 4] = [
    "ts48-v7-SAIP2.3_BERTLV_SUCI",
    "ts48-v7-SAIP2.3_BERTLV_SUCI_NoRAMRFM",
    "ts48-v7-SAIP2.3_NoBERTLV",
    "ts48-v7-SAIP2.3_NoBERTLV_NoRAMRFM",
];

fn load(name: &str) -> Option<(Vec<u8>, String)> {
    let der = rsp_shared::file_for_test(&format!("profiles/ts48/{name}.der"))?;
    let txt = rsp_shared::file_for_test(&format!("profiles/ts48/{name}.txt"))?;
    Some((der, String::from_utf8(txt).unwrap()))
}

/// `valueN ProfileElement ::= <name> : {` lines of the value notation, in order.
fn txt_element_names(txt: &str) -> Vec<String> {
    txt.lines()
        .filter_map(|l| l.split_once(" ProfileElement ::= "))
        .map(|(_, rest)| rest.split(' ').next().unwrap().to_string())
        .collect()
}

/// The header's `eUICC-Mandatory-services { … }` names from the value notation.
fn txt_services(txt: &str) -> Vec<String> {
    let start = txt.find("eUICC-Mandatory-services {").unwrap();
    let block = &txt[start..start + txt[start..].find('}').unwrap()];
    block
        .lines()
        .skip(1)
        .map(|l| {
            l.trim()
                .trim_end_matches(',')
                .trim_end_matches(" NULL")
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[test]
fn ts48_profiles_parse_validate_and_reencode() {
    for name in PROFILES {
        let Some((der, txt)) = load(name) else { return };
        let pkg = ProfilePackage::parse(&der).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pkg.to_der(), der, "{name}: re-encoding differs");
        let h = pkg.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let names: Vec<String> = pkg
            .elements
            .iter()
            .map(|p| p.kind.name().to_string())
            .collect();
        assert_eq!(names, txt_element_names(&txt), "{name}: element sequence");
        // The value notation writes the header ICCID as '89000123456789012341'H.
        let iccid_line = txt
            .lines()
            .find(|l| l.trim_start().starts_with("iccid '"))
            .unwrap();
        assert!(
            iccid_line.contains(&format!("'{}'H", h.iccid_digits())),
            "{name}: {iccid_line}"
        );
        assert_eq!(h.iccid_digits(), "89000123456789012341");
        assert_eq!((h.major_version, h.minor_version), (2, 3));
        assert_eq!(
            h.profile_type.as_deref(),
            Some("GSMA Generic eUICC Test Profile")
        );
        assert_eq!(h.mandatory_services, txt_services(&txt), "{name}");
        assert!(
            h.mandatory_gfste.contains(&"2.23.143.1.2.4".to_string()),
            "USIM template"
        );
        let listing = pkg.listing();
        assert!(listing.contains("akaParameter") && listing.contains("ICCID 89000123456789012341"));
    }
}

#[test]
fn corrupted_packages_are_refused_precisely() {
    let Some((der, _)) = load(PROFILES[0]) else {
        return;
    };
    let pkg = ProfilePackage::parse(&der).unwrap();
    let rebuild = |els: &[rsp_saip::ProfileElement]| -> Vec<u8> {
        els.iter().flat_map(|e| e.raw().to_vec()).collect()
    };

    // What validation says about a package made of `els`.
    let refuse = |els: &[rsp_saip::ProfileElement]| {
        ProfilePackage::parse(&rebuild(els))
            .unwrap()
            .validate()
            .unwrap_err()
    };
    let without = |kind: PeKind| -> Vec<rsp_saip::ProfileElement> {
        pkg.elements
            .iter()
            .filter(|p| p.kind != kind)
            .cloned()
            .collect()
    };

    // Truncated: cut inside the 5th element.
    let cut: usize = pkg.elements[..4]
        .iter()
        .map(|e| e.raw().len())
        .sum::<usize>()
        + 10;
    match ProfilePackage::parse(&der[..cut]) {
        Err(Error::Malformed { index: 4, .. }) => {}
        other => panic!("truncated: {other:?}"),
    }
    // Every truncation is an error or a shorter package that fails validation; never a panic.
    for n in (0..der.len()).step_by(97) {
        if let Ok(p) = ProfilePackage::parse(&der[..n]) {
            assert!(p.validate().is_err(), "prefix of {n} bytes validated");
        }
    }

    let mut swapped = pkg.elements.clone();
    swapped.swap(0, 1);
    let e = refuse(&swapped);
    assert!(
        matches!(
            e,
            Error::Rule {
                index: 0,
                pe: "mf",
                ..
            }
        ),
        "{e}"
    );

    let mut dup = pkg.elements.clone();
    dup.insert(3, pkg.elements[0].clone());
    let e = refuse(&dup);
    assert!(
        matches!(
            e,
            Error::Rule {
                index: 3,
                pe: "header",
                ..
            }
        ),
        "{e}"
    );

    let mut no_end = pkg.elements.clone();
    no_end.pop();
    let e = refuse(&no_end);
    assert!(e.to_string().contains("last element must be end"), "{e}");

    let no_usim = without(PeKind::Usim);
    let e = refuse(&no_usim);
    assert!(e.to_string().contains("without usim"), "{e}");

    let no_aka = without(PeKind::AkaParameter);
    let e = refuse(&no_aka);
    assert!(
        e.to_string()
            .contains("mandatory service usim-test-algorithm needs"),
        "{e}"
    );

    // Two elements with the same identification.
    let mut twice = pkg.elements.clone();
    let pin = pkg
        .elements
        .iter()
        .position(|p| p.kind == PeKind::PinCodes)
        .unwrap();
    twice.insert(pin + 1, pkg.elements[pin].clone());
    let e = refuse(&twice);
    assert!(e.to_string().contains("already used"), "{e}");

    // Not DER / not a PE alternative.
    assert!(ProfilePackage::parse(&[]).is_err());
    assert!(ProfilePackage::parse(&[0x30, 0x00]).is_err());
    assert!(ProfilePackage::parse(&[0xA0, 0x80, 0x00, 0x00]).is_err());
}

#[test]
fn personalising_changes_exactly_the_targeted_bytes() {
    use rsp_saip::personalise::{decode_ef_imsi, encode_ef_imsi};
    use rsp_saip::Personalisation;
    for name in PROFILES {
        let Some((der, txt)) = load(name) else { return };
        let mut pkg = ProfilePackage::parse(&der).unwrap();
        // What the value notation says the template holds.
        assert!(txt.contains("fillFileContent : '98001032547698103214'H"));
        assert_eq!(pkg.ef_iccid().unwrap().to_string(), "89000123456789012341");
        assert!(txt.contains("fillFileContent : '080910101032547698'H"));
        assert_eq!(pkg.imsi().as_deref(), Some("001010123456789"));
        assert_eq!(
            hex::encode_upper(encode_ef_imsi("001010123456789").unwrap()),
            "080910101032547698"
        );
        let keys = pkg.aka_keys();
        assert_eq!(keys.len(), 2, "{name}: USIM and ISIM akaParameter");
        assert!(txt.contains(&format!("key '{}'H", hex::encode_upper(keys[0].0))));

        let iccid = rsp_asn1::ids::Iccid::with_luhn("8988247000001234567")
            .unwrap()
            .to_string();
        let p = Personalisation {
            iccid: Some(iccid.clone()),
            imsi: Some("310410123456789".into()),
            ki: Some([0xA5; 16]),
            opc: Some([0x5A; 16]),
            spn: None,
        };
        pkg.personalise(&p).unwrap();
        let out = pkg.to_der();
        assert_eq!(out.len(), der.len());
        let changed: Vec<usize> = (0..der.len()).filter(|&i| der[i] != out[i]).collect();
        // header ICCID (10) + EF.ICCID (10) + EF.IMSI (9) + 2 × (Ki 16 + OPc 16) at most.
        assert!(
            changed.len() <= 10 + 10 + 9 + 64,
            "{name}: {} bytes changed",
            changed.len()
        );
        let again = ProfilePackage::parse(&out).unwrap();
        let h = again.validate().unwrap();
        assert_eq!(h.iccid_digits(), iccid);
        assert_eq!(again.ef_iccid().unwrap().to_string(), iccid);
        assert!(again.ef_iccid().unwrap().luhn_ok());
        assert_eq!(again.imsi().as_deref(), Some("310410123456789"));
        assert!(again
            .aka_keys()
            .iter()
            .all(|(k, o)| k == &[0xA5; 16] && o == &[0x5A; 16]));
        let unpersonalised = Personalisation::default();
        let mut same = ProfilePackage::parse(&der).unwrap();
        same.personalise(&unpersonalised).unwrap();
        assert_eq!(
            same.to_der(),
            der,
            "an empty personalisation changes nothing"
        );
        assert_eq!(
            decode_ef_imsi(&encode_ef_imsi("23415123456").unwrap()).as_deref(),
            Some("23415123456")
        );
    }
    let Some((der, _)) = load(PROFILES[0]) else {
        return;
    };
    let mut pkg = ProfilePackage::parse(&der).unwrap();
    // A shorter IMSI fits the 9-byte EF.IMSI, padded with FF: same package length.
    let short = Personalisation {
        imsi: Some("31041012345".into()),
        ..Default::default()
    };
    let mut shorter = pkg.clone();
    shorter.personalise(&short).unwrap();
    assert_eq!(shorter.to_der().len(), der.len());
    assert_eq!(shorter.imsi().as_deref(), Some("31041012345"));
    // Refused values: nothing changes, also when an earlier value of the same call was fine.
    for bad in [
        Personalisation {
            iccid: Some("89x".into()),
            ..Default::default()
        },
        Personalisation {
            iccid: Some("89882470000012345671".into()), // wrong Luhn digit
            ..Default::default()
        },
        Personalisation {
            iccid: Some("89882470000012345670".into()),
            imsi: Some("31041".into()), // too short for an IMSI
            ..Default::default()
        },
        Personalisation {
            imsi: Some("310410123456789".into()),
            spn: Some("this name is too long".into()),
            ..Default::default()
        },
    ] {
        let e = pkg.personalise(&bad).unwrap_err();
        assert!(!e.to_string().is_empty());
        assert_eq!(
            pkg.to_der(),
            der,
            "a refused personalisation changes nothing: {bad:?}"
        );
    }
}
