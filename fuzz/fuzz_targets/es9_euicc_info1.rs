#![no_main]
//! ES9+ initiateAuthentication: euiccInfo1.
use libfuzzer_sys::fuzz_target;
use rsp_asn1::auth::EUICCInfo1;
fuzz_target!(|data: &[u8]| {
    smdp_sim_fuzz::der_round_trip::<EUICCInfo1>(data);
});
