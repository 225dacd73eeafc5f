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
    let e = ProfilePackage::parse(&rebuild(&swapped))
        .unwrap()
        .validate()
        .unwrap_err();
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
    let e = ProfilePackage::parse(&rebuild(&dup))
        .unwrap()
        .validate()
        .unwrap_err();
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
    let e = ProfilePackage::parse(&rebuild(&no_end))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("last element must be end"), "{e}");

    let no_usim: Vec<_> = pkg
        .elements
        .iter()
        .filter(|p| p.kind != PeKind::Usim)
        .cloned()
        .collect();
    let e = ProfilePackage::parse(&rebuild(&no_usim))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("without usim"), "{e}");

    let no_aka: Vec<_> = pkg
        .elements
        .iter()
        .filter(|p| p.kind != PeKind::AkaParameter)
        .cloned()
        .collect();
    let e = ProfilePackage::parse(&rebuild(&no_aka))
        .unwrap()
        .validate()
        .unwrap_err();
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
    let e = ProfilePackage::parse(&rebuild(&twice))
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");

    // Not DER / not a PE alternative.
    assert!(ProfilePackage::parse(&[]).is_err());
    assert!(ProfilePackage::parse(&[0x30, 0x00]).is_err());
    assert!(ProfilePackage::parse(&[0xA0, 0x80, 0x00, 0x00]).is_err());
}
