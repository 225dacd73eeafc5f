#![no_main]
//! eUICC side: received 86/87/88 segments under fixed keys. Never a panic; anything that
//! verifies must be what the sender protected (so a random input essentially never does).
use libfuzzer_sys::fuzz_target;
use rsp_bpp::{Bsp, Engine};

fuzz_target!(|data: &[u8]| {
    let keys = ([1u8; 16], [2u8; 16], [3u8; 16]);
    for engine in [Engine::Auto, Engine::Portable] {
        let mut rx = Bsp::new(&keys.0, &keys.1, &keys.2, engine);
        let _ = rx.verify_and_decrypt(0x86, data);
        let _ = rx.verify_mac_only(0x88, data);
    }
    // What we protect always verifies and round-trips.
    let mut tx = Bsp::new(&keys.0, &keys.1, &keys.2, Engine::Auto);
    let mut rx = Bsp::new(&keys.0, &keys.1, &keys.2, Engine::Portable);
    let chunk = &data[..data.len().min(1007)];
    let mut seg = Vec::new();
    tx.encrypt_and_mac(0x86, chunk, &mut seg);
    assert!(seg.len() <= 1020);
    assert_eq!(rx.verify_and_decrypt(0x86, &seg).unwrap(), chunk);
});
