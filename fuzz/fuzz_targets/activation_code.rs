#![no_main]
//! Activation codes (QR text): parse → print → parse.
use libfuzzer_sys::fuzz_target;
use rsp_asn1::ids::ActivationCode;
fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(ac) = ActivationCode::parse(s) {
            let printed = ac.to_string();
            assert_eq!(ActivationCode::parse(&printed).unwrap(), ac);
        }
    }
});
