#![no_main]
//! ES9+ getBoundProfilePackage: PrepareDownloadResponse (BF21).
use libfuzzer_sys::fuzz_target;
use rsp_asn1::download::PrepareDownloadResponse;
fuzz_target!(|data: &[u8]| {
    smdp_sim_fuzz::der_round_trip::<PrepareDownloadResponse>(data);
});
