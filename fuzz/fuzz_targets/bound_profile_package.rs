#![no_main]
//! eUICC/LPA side: BoundProfilePackage (BF36) and the StoreMetadataRequest it carries.
use libfuzzer_sys::fuzz_target;
use rsp_asn1::download::{BoundProfilePackage, StoreMetadataRequest};
fuzz_target!(|data: &[u8]| {
    smdp_sim_fuzz::der_round_trip::<BoundProfilePackage>(data);
    smdp_sim_fuzz::der_round_trip::<StoreMetadataRequest>(data);
});
