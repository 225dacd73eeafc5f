#![no_main]
//! The ES9+ ASN.1 binding's envelopes, both directions: bytes that read as a message write
//! back as one that reads to the same message (X.680 and the doubled-tag form alike).
use libfuzzer_sys::fuzz_target;
use rsp_asn1::binding::{Request, Response};
fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Request::from_der(data) {
        let der = r.to_der().expect("a read request writes");
        assert_eq!(
            Request::from_der(&der).as_ref(),
            Ok(&r),
            "request round trip"
        );
    }
    if let Ok(r) = Response::from_der(data) {
        let der = r.to_der().expect("a read response writes");
        assert_eq!(
            Response::from_der(&der).as_ref(),
            Ok(&r),
            "response round trip"
        );
    }
});
