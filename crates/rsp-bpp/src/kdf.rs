//! BSP session keys: ANSI X9.63 KDF with SHA-256 over the ECKA shared secret (digest §5.1).

use sha2::{Digest as _, Sha256};

/// AES key type in the CRT (`80 01 88`).
pub const KEY_TYPE_AES: u8 = 0x88;
/// Key length in the CRT (`81 01 10`).
pub const KEY_LENGTH: u8 = 0x10;

/// The three values the KDF yields: initial MAC chaining value, S-ENC, S-MAC.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKeys {
    pub initial_mcv: [u8; 16],
    pub s_enc: [u8; 16],
    pub s_mac: [u8; 16],
}

impl core::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Test keys only, but keep secrets out of logs by default anyway.
        f.write_str("SessionKeys(..)")
    }
}

/// SharedInfo = keyType ‖ keyLength ‖ len(hostId) ‖ hostId ‖ len(EID) ‖ EID.
pub fn shared_info(host_id: &[u8], eid: &[u8; 16]) -> Vec<u8> {
    let mut si = Vec::with_capacity(4 + host_id.len() + 16);
    si.extend([KEY_TYPE_AES, KEY_LENGTH, host_id.len() as u8]);
    si.extend_from_slice(host_id);
    si.push(16);
    si.extend_from_slice(eid);
    si
}

/// X9.63 KDF: K_i = SHA-256(ShS ‖ i (32-bit big-endian, from 1) ‖ SharedInfo), 48 bytes split
/// into MCV0 ‖ S-ENC ‖ S-MAC.
pub fn derive_session_keys(shs: &[u8; 32], host_id: &[u8], eid: &[u8; 16]) -> SessionKeys {
    let si = shared_info(host_id, eid);
    let mut out = [0u8; 64];
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let mut h = Sha256::new();
        h.update(shs);
        h.update((i as u32 + 1).to_be_bytes());
        h.update(&si);
        chunk.copy_from_slice(&h.finalize());
    }
    let take = |r: core::ops::Range<usize>| -> [u8; 16] {
        let mut k = [0u8; 16];
        k.copy_from_slice(&out[r]);
        k
    };
    SessionKeys {
        initial_mcv: take(0..16),
        s_enc: take(16..32),
        s_mac: take(32..48),
    }
}
