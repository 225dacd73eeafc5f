#![no_main]
//! SAIP profile packages: parse, validate, list, re-encode — never a panic, and whatever
//! parses re-encodes to the input.
use libfuzzer_sys::fuzz_target;
use rsp_saip::ProfilePackage;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = ProfilePackage::parse(data) {
        assert_eq!(p.to_der(), data);
        let _ = p.validate();
        let _ = p.header();
        let _ = p.listing();
    }
});
