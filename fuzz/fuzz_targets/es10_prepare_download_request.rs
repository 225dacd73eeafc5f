#![no_main]
//! eUICC side: PrepareDownloadRequest (BF21).
use libfuzzer_sys::fuzz_target;
use rsp_asn1::download::PrepareDownloadRequest;
fuzz_target!(|data: &[u8]| {
    smdp_sim_fuzz::der_round_trip::<PrepareDownloadRequest>(data);
});
