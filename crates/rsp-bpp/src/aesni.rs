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
        if !std::arch::is_x86_feature_detected!("aes")
            || !std::arch::is_x86_feature_detected!("ssse3")
        {
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

    /// Encrypts independent blocks, eight in flight at a time (ECB: the ICVs of many segments).
    pub fn encrypt_many(&self, blocks: &mut [[u8; 16]]) {
        // SAFETY: `self` exists only when AES-NI is present.
        unsafe { encrypt_many_ni(&self.ek, blocks) }
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
fn encrypt_many_ni(k: &[__m128i; 11], blocks: &mut [[u8; 16]]) {
    for chunk in blocks.chunks_mut(8) {
        let mut x = [_mm_setzero_si128(); 8];
        for (xi, b) in x.iter_mut().zip(chunk.iter()) {
            // SAFETY: 16 readable bytes.
            *xi = _mm_xor_si128(unsafe { _mm_loadu_si128(b.as_ptr().cast()) }, k[0]);
        }
        for rk in &k[1..10] {
            for xi in x.iter_mut() {
                *xi = _mm_aesenc_si128(*xi, *rk);
            }
        }
        for (xi, b) in x.iter().zip(chunk.iter_mut()) {
            // SAFETY: 16 writable bytes.
            unsafe { _mm_storeu_si128(b.as_mut_ptr().cast(), _mm_aesenclast_si128(*xi, k[10])) };
        }
    }
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

/// Protects each of `chunks` as an encrypted segment appended to `out`, with `icvs[i]` for
/// segment i; returns each segment's range in `out` and the MCV after
/// the last one. One function for the whole profile, so the CBC chain of the next segment
/// overlaps the MAC tail of the previous one.
#[allow(clippy::too_many_arguments)] // the BSP state, passed flat into the hot loop
pub fn protect_many(
    enc_key: &AesNi,
    mac_key: &AesNi,
    k2: &[u8; 16],
    mcv: &[u8; 16],
    icvs: &[[u8; 16]],
    tag: u8,
    chunks: &[&[u8]],
    out: &mut Vec<u8>,
) -> (Vec<core::ops::Range<usize>>, [u8; 16]) {
    assert_eq!(icvs.len(), chunks.len());
    // SAFETY: both keys exist only when AES-NI (and so SSSE3) is present.
    unsafe { protect_many_ni(enc_key, mac_key, k2, mcv, icvs, tag, chunks, out) }
}

#[target_feature(enable = "aes,ssse3")]
#[allow(clippy::too_many_arguments)]
fn protect_many_ni(
    enc_key: &AesNi,
    mac_key: &AesNi,
    k2: &[u8; 16],
    mcv: &[u8; 16],
    icvs: &[[u8; 16]],
    tag: u8,
    chunks: &[&[u8]],
    out: &mut Vec<u8>,
) -> (Vec<core::ops::Range<usize>>, [u8; 16]) {
    let total: usize = chunks.iter().map(|c| (c.len() / 16 + 1) * 16 + 12).sum();
    out.reserve(total);
    let mut ranges = Vec::with_capacity(chunks.len());
    let mut mcv = *mcv;
    for (chunk, icv) in chunks.iter().zip(icvs) {
        let full = chunk.len() / 16 * 16;
        let padded = full + 16;
        let mut last = [0u8; 16];
        last[..chunk.len() - full].copy_from_slice(&chunk[full..]);
        last[chunk.len() - full] = 0x80;
        let start = out.len();
        out.push(tag);
        rsp_asn1::tlv::push_length(out, padded + 8);
        let hdr = out.len() - start;
        out.resize(start + hdr + padded, 0);
        let mac = segment_dispatch(
            enc_key,
            mac_key,
            icv,
            &mcv,
            k2,
            &chunk[..full],
            &last,
            &mut out[start..],
            hdr,
        );
        out.extend_from_slice(&mac[..8]);
        mcv = mac;
        ranges.push(start..out.len());
    }
    (ranges, mcv)
}

#[target_feature(enable = "aes,ssse3")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn segment_dispatch(
    enc_key: &AesNi,
    mac_key: &AesNi,
    icv: &[u8; 16],
    mcv: &[u8; 16],
    k2: &[u8; 16],
    full: &[u8],
    last: &[u8],
    out: &mut [u8],
    hdr: usize,
) -> [u8; 16] {
    match hdr {
        2 => segment_ni::<2, 14>(enc_key, mac_key, icv, mcv, k2, full, last, out),
        3 => segment_ni::<3, 13>(enc_key, mac_key, icv, mcv, k2, full, last, out),
        4 => segment_ni::<4, 12>(enc_key, mac_key, icv, mcv, k2, full, last, out),
        _ => unreachable!("BER tag + length of a segment is 2..=4 bytes"),
    }
}

/// `H` header bytes; `S` = 16 - H. The MAC input block k (k >= 1) is out[16(k-1)..16k], i.e.
/// the last H bytes of ciphertext block k-2 (or the header) followed by the first S bytes of
/// block k-1: one `palignr` of two registers, so the MAC chain never waits on memory.
/// Plaintext: the whole blocks `full`, then the padded `last` block; ciphertext to `out[H..]`.
#[target_feature(enable = "aes,ssse3")]
#[inline]
#[allow(clippy::too_many_arguments)]
fn segment_ni<const H: usize, const S: i32>(
    enc_key: &AesNi,
    mac_key: &AesNi,
    icv: &[u8; 16],
    mcv: &[u8; 16],
    k2: &[u8; 16],
    full: &[u8],
    last_plain: &[u8],
    out: &mut [u8],
) -> [u8; 16] {
    let n = full.len() / 16 + 1;
    assert!(out.len() == H + 16 * n && last_plain.len() == 16 && full.len() % 16 == 0);
    let ptr = out.as_mut_ptr();
    // SAFETY (raw accesses): every pointer below addresses 16 bytes inside the slice it came
    // from (checked by the assert above); the 16-byte buffers are ours.
    let ld = |p: *const u8| unsafe { _mm_loadu_si128(p.cast::<__m128i>()) };
    let mut hdr = [0u8; 16];
    hdr[16 - H..].copy_from_slice(&out[..H]);
    let mut prev2 = ld(hdr.as_ptr()); // header in the top H bytes
    let mut c = ld(icv.as_ptr());
    let mut m = enc(&mac_key.ek, ld(mcv.as_ptr()));
    let plain = |i: usize| {
        if i + 1 < n {
            ld(unsafe { full.as_ptr().add(16 * i) })
        } else {
            ld(last_plain.as_ptr())
        }
    };
    // The next plaintext block is loaded before this iteration's store, so a store that
    // happens to alias it modulo 4 KiB cannot hold the load back.
    let mut p = plain(0);
    for i in 0..n {
        let prev = c;
        c = enc(&enc_key.ek, _mm_xor_si128(c, p));
        if i + 1 < n {
            p = plain(i + 1);
        }
        if i > 0 {
            // Block i of the MAC input: tail of c_{i-2} (or header) ‖ head of c_{i-1}.
            let blk = _mm_alignr_epi8::<S>(prev, prev2);
            m = enc(&mac_key.ek, _mm_xor_si128(m, blk));
            prev2 = prev;
        }
        unsafe { _mm_storeu_si128(ptr.add(H + 16 * i).cast(), c) };
    }
    let blk = _mm_alignr_epi8::<S>(c, prev2);
    m = enc(&mac_key.ek, _mm_xor_si128(m, blk));
    // Last, partial block: the final H ciphertext bytes, then 80 00…, XOR K2.
    let mut last = [0u8; 16];
    last[..H].copy_from_slice(&out[out.len() - H..]);
    last[H] = 0x80;
    for (l, k) in last.iter_mut().zip(k2) {
        *l ^= k;
    }
    m = enc(&mac_key.ek, _mm_xor_si128(m, ld(last.as_ptr())));
    let mut mac = [0u8; 16];
    // SAFETY: 16 writable bytes.
    unsafe { _mm_storeu_si128(mac.as_mut_ptr().cast(), m) };
    mac
}
