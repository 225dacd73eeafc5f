#![no_main]
//! ES9+ authenticateClient: AuthenticateServerResponse (BF38).
use libfuzzer_sys::fuzz_target;
use rsp_asn1::auth::AuthenticateServerResponse;
fuzz_target!(|data: &[u8]| {
    smdp_sim_fuzz::der_round_trip::<AuthenticateServerResponse>(data);
});
