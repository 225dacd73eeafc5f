#![no_main]
//! eUICC side: AuthenticateServerRequest (BF38).
use libfuzzer_sys::fuzz_target;
use rsp_asn1::auth::AuthenticateServerRequest;
fuzz_target!(|data: &[u8]| {
    smdp_sim_fuzz::der_round_trip::<AuthenticateServerRequest>(data);
});
