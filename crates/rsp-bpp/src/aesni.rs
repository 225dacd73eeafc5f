//! AES-128 with x86-64 AES-NI, and the fused CBC-encrypt + CMAC loop of one BSP segment.
//!
//! Why hand-written: a segment is two serial AES chains (CBC over the plaintext, CMAC over the
//! ciphertext). Run one after the other they cost twice one chain; interleaved in one loop, with
//! the MAC one block behind the cipher, the CPU overlaps them and the segment costs about one
//! chain. Library block-cipher calls (runtime dispatch per block) do not interleave.
//!
//! Safety: every `unsafe` call here is to a `#[target_feature(enable = "aes")]` function or an
//! intrinsic, and an [`AesNi`] value only exists after `is_x86_feature_detected!("aes")`
//! returned true, so the instructions are available whenever they run. Loads and stores use
//! the unaligned forms on in-bounds slices.
#![allow(unsafe_code)]

use core::arch::x86_64::*;

/// An expanded AES-128 key for AES-NI.
#[derive(Clone, Copy)]
pub struct AesNi {
    ek: [__m128i; 11],
    dk: [__m128i; 11],
}

macro_rules! expand_step {
    ($k:expr, $rcon:literal) => {{
        let k = $k;
        let t = _mm_shuffle_epi32::<0xFF>(_mm_aeskeygenassist_si128::<$rcon>(k));
        let k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
        let k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
        let k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
        _mm_xor_si128(k, t)
    }};
}

impl AesNi {
    /// `None` when the CPU has no AES-NI.
    pub fn new(key: &[u8; 16]) -> Option<Self> {
        if !std::arch::is_x86_feature_detected!("aes") {
            return None;
        }
        // SAFETY: AES-NI is present (checked above).
        Some(unsafe { expand(key) })
    }

    /// Encrypts one block in place.
    #[inline]
    pub fn encrypt(&self, block: &mut [u8; 16]) {
        // SAFETY: `self` exists only when AES-NI is present.
        unsafe {
            let b = _mm_loadu_si128(block.as_ptr().cast());
            _mm_storeu_si128(block.as_mut_ptr().cast(), enc(&self.ek, b));
        }
    }

    /// Decrypts one block in place.
    #[inline]
    pub fn decrypt(&self, block: &mut [u8; 16]) {
        // SAFETY: as above.
        unsafe {
            let b = _mm_loadu_si128(block.as_ptr().cast());
            _mm_storeu_si128(block.as_mut_ptr().cast(), dec(&self.dk, b));
        }
    }
}

#[target_feature(enable = "aes")]
fn expand(key: &[u8; 16]) -> AesNi {
    // SAFETY: 16 readable bytes.
    let k0 = unsafe { _mm_loadu_si128(key.as_ptr().cast()) };
    let k1 = expand_step!(k0, 0x01);
    let k2 = expand_step!(k1, 0x02);
    let k3 = expand_step!(k2, 0x04);
    let k4 = expand_step!(k3, 0x08);
    let k5 = expand_step!(k4, 0x10);
    let k6 = expand_step!(k5, 0x20);
    let k7 = expand_step!(k6, 0x40);
    let k8 = expand_step!(k7, 0x80);
    let k9 = expand_step!(k8, 0x1B);
    let k10 = expand_step!(k9, 0x36);
    let ek = [k0, k1, k2, k3, k4, k5, k6, k7, k8, k9, k10];
    let mut dk = [k10; 11];
    for i in 1..10 {
        dk[i] = _mm_aesimc_si128(ek[10 - i]);
    }
    dk[10] = k0;
    AesNi { ek, dk }
}

#[target_feature(enable = "aes")]
#[inline]
fn enc(k: &[__m128i; 11], b: __m128i) -> __m128i {
    let mut x = _mm_xor_si128(b, k[0]);
    for rk in &k[1..10] {
        x = _mm_aesenc_si128(x, *rk);
    }
    _mm_aesenclast_si128(x, k[10])
}

#[target_feature(enable = "aes")]
#[inline]
fn dec(k: &[__m128i; 11], b: __m128i) -> __m128i {
    let mut x = _mm_xor_si128(b, k[0]);
    for rk in &k[1..10] {
        x = _mm_aesdec_si128(x, *rk);
    }
    _mm_aesdeclast_si128(x, k[10])
}

/// One encrypted segment, in place. `out` holds `tag ‖ L` in `out[..hdr]` and the padded
/// plaintext (a multiple of 16 bytes) after it; on return the plaintext is CBC-encrypted with
/// `icv`, and the CMAC over `mcv ‖ out` (`k2` for the always-partial last block) is returned.
pub fn cbc_cmac_segment(
    enc_key: &AesNi,
    mac_key: &AesNi,
    icv: &[u8; 16],
    mcv: &[u8; 16],
    k2: &[u8; 16],
    out: &mut [u8],
    hdr: usize,
) -> [u8; 16] {
    // SAFETY: both keys exist only when AES-NI is present.
    unsafe { cbc_cmac_segment_ni(enc_key, mac_key, icv, mcv, k2, out, hdr) }
}

#[target_feature(enable = "aes")]
fn cbc_cmac_segment_ni(
    enc_key: &AesNi,
    mac_key: &AesNi,
    icv: &[u8; 16],
    mcv: &[u8; 16],
    k2: &[u8; 16],
    out: &mut [u8],
    hdr: usize,
) -> [u8; 16] {
    let n = (out.len() - hdr) / 16;
    assert!((2..16).contains(&hdr) && (out.len() - hdr) % 16 == 0);
    let ptr = out.as_mut_ptr();
    // SAFETY (all raw accesses below): offsets are < out.len() - 15 (hdr + 16i with i < n, and
    // 16(i-1) < hdr + 16i), so each 16-byte access is in bounds of `out`.
    let load = |off: usize| unsafe { _mm_loadu_si128(ptr.add(off).cast::<__m128i>()) };
    // SAFETY: 16 readable bytes each.
    let (mut c, mut m) = unsafe {
        (
            _mm_loadu_si128(icv.as_ptr().cast()),
            _mm_loadu_si128(mcv.as_ptr().cast()),
        )
    };
    m = enc(&mac_key.ek, m);
    for i in 0..n {
        c = enc(&enc_key.ek, _mm_xor_si128(c, load(hdr + 16 * i)));
        // The MAC takes the block that ended before this ciphertext block: independent of `c`,
        // so both AES chains are in flight at once.
        if i > 0 {
            m = enc(&mac_key.ek, _mm_xor_si128(m, load(16 * (i - 1))));
        }
        // SAFETY: see above.
        unsafe { _mm_storeu_si128(ptr.add(hdr + 16 * i).cast(), c) };
    }
    if n > 0 {
        m = enc(&mac_key.ek, _mm_xor_si128(m, load(16 * (n - 1))));
    }
    // Last, partial block: the `hdr` bytes after 16n, then 80 00…, XOR K2.
    let mut last = [0u8; 16];
    let tail = &out[16 * n..];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    for (l, k) in last.iter_mut().zip(k2) {
        *l ^= k;
    }
    // SAFETY: 16 readable bytes.
    m = enc(
        &mac_key.ek,
        _mm_xor_si128(m, unsafe { _mm_loadu_si128(last.as_ptr().cast()) }),
    );
    let mut mac = [0u8; 16];
    // SAFETY: 16 writable bytes.
    unsafe { _mm_storeu_si128(mac.as_mut_ptr().cast(), m) };
    mac
}
