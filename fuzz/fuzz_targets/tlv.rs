#![no_main]
//! The borrowed TLV reader: shape check and child walk agree and never panic.
use libfuzzer_sys::fuzz_target;
use rsp_asn1::tlv::{check_der, Children, Tlv};
fuzz_target!(|data: &[u8]| {
    let ok = check_der(data).is_ok();
    if let Ok(t) = Tlv::read_exact(data) {
        assert_eq!(t.raw, data);
        let kids: Result<Vec<_>, _> = t.children().collect();
        if ok && t.constructed {
            assert!(kids.is_ok());
        }
    } else {
        assert!(!ok);
    }
    for c in Children::new(data) {
        if c.is_err() {
            break;
        }
    }
});
