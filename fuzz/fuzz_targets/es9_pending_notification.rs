#![no_main]
//! ES9+ handleNotification: PendingNotification (BF37 or 30).
use libfuzzer_sys::fuzz_target;
use rsp_asn1::notification::PendingNotification;
fuzz_target!(|data: &[u8]| {
    smdp_sim_fuzz::der_round_trip::<PendingNotification>(data);
});
