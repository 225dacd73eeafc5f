#![no_main]
//! ES9+ cancelSession: CancelSessionResponse (BF41).
use libfuzzer_sys::fuzz_target;
use rsp_asn1::notification::CancelSessionResponse;
fuzz_target!(|data: &[u8]| {
    smdp_sim_fuzz::der_round_trip::<CancelSessionResponse>(data);
});
