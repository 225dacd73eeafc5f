#![no_main]
//! SAIP profile packages: parse, validate, list, re-encode, personalise — never a panic;
//! whatever parses re-encodes to the input; a personalisation either fails and changes
//! nothing, or yields a package that parses again and reads back the values written.
use libfuzzer_sys::fuzz_target;
use rsp_saip::{Personalisation, ProfilePackage};

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ProfilePackage::parse(data) {
        assert_eq!(p.to_der(), data);
        let _ = p.validate();
        let _ = p.header();
        let _ = p.listing();
        let mut q = p.clone();
        let values = Personalisation {
            iccid: Some("89882470000012345670".into()),
            imsi: Some("310410123456789".into()),
            ki: Some([0xA5; 16]),
            opc: Some([0x5A; 16]),
            spn: Some("fuzz".into()),
        };
        match q.personalise(&values) {
            Err(_) => assert_eq!(q, p),
            Ok(()) => {
                let again =
                    ProfilePackage::parse(&q.to_der()).expect("personalised package parses");
                assert_eq!(again.imsi().as_deref(), Some("310410123456789"));
                assert_eq!(again.spn().as_deref(), Some("fuzz"));
            }
        }
    }
});
