//! One BSP instance (SCP03t as SGP.22 uses it, digest §5.2): a block counter and a MAC chain
//! that run across every segment protected with the same keys.
//!
//! Encrypt+MAC segment (`86`, `87`): `P = data ‖ 80 ‖ 00…` to a multiple of 16;
//! `ICV = AES(S-ENC, counter)`, counter + 1; `C = AES-CBC(S-ENC, ICV, P)`;
//! `MAC = AES-CMAC(S-MAC, MCV ‖ tag ‖ L ‖ C)` with `L = len(C) + 8`; output `tag ‖ L ‖ C ‖ MAC[..8]`;
//! `MCV = MAC`. MAC-only segment (`88`): the same over the plaintext, and the counter still
//! advances by one.

use aes::cipher::{BlockCipherDecrypt as _, BlockCipherEncrypt as _, KeyInit as _};
use rsp_asn1::tlv::push_length;

use crate::kdf::SessionKeys;

/// Largest segment TLV: SGP.22 (and the trace) cap 86/87/88 TLVs at 1020 bytes.
pub const MAX_SEGMENT_TLV: usize = 1020;
/// Most plaintext bytes in one encrypted segment: 1007 + 1 pad byte = 1008 = 63 blocks, and
/// `86 82 03F8 ‖ 1008 ‖ 8-byte MAC` = 1020.
pub const MAX_ENCRYPTED_PLAINTEXT: usize = 1007;
/// Most bytes in one MAC-only segment: `88 82 03F8 ‖ 1008 ‖ MAC` = 1020.
pub const MAX_MAC_ONLY_PLAINTEXT: usize = 1008;

/// Which AES implementation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// AES-NI with the fused CBC+CMAC loop where the CPU has it, else [`Engine::Fused`].
    #[default]
    Auto,
    /// The RustCrypto `aes` crate one block at a time (the reference; any CPU).
    Portable,
    /// The same fused CBC+CMAC loop, in safe code on the `aes` crate's block-closure API (one
    /// backend dispatch per key and profile; the crate picks AES-NI, ARMv8 AES or bitsliced
    /// software). On x86-64 it runs at about 0.8x the AES-NI module (issue 16 measured it).
    Fused,
}

#[derive(Clone)]
enum Aes {
    #[cfg(target_arch = "x86_64")]
    Ni(crate::aesni::AesNi),
    Soft(aes::Aes128),
}

impl Aes {
    fn new(key: &[u8; 16], engine: Engine) -> Self {
        #[cfg(target_arch = "x86_64")]
        if engine == Engine::Auto {
            if let Some(k) = crate::aesni::AesNi::new(key) {
                return Aes::Ni(k);
            }
        }
        let _ = engine;
        Aes::Soft(aes::Aes128::new(key.into()))
    }

    fn encrypt(&self, b: &mut [u8; 16]) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Aes::Ni(k) => k.encrypt(b),
            Aes::Soft(k) => k.encrypt_block(b.into()),
        }
    }

    fn decrypt(&self, b: &mut [u8; 16]) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Aes::Ni(k) => k.decrypt(b),
            Aes::Soft(k) => k.decrypt_block(b.into()),
        }
    }
}

fn dbl(b: &[u8; 16]) -> [u8; 16] {
    let v = u128::from_be_bytes(*b);
    let mut d = v << 1;
    if v >> 127 == 1 {
        d ^= 0x87;
    }
    d.to_be_bytes()
}

fn xor(a: &mut [u8; 16], b: &[u8]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// Protected segments, back to back in one shared buffer (cloning it, e.g. a pre-protected
/// profile rebound per download, copies nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segments {
    buf: bytes::Bytes,
    ranges: Vec<core::ops::Range<usize>>,
}

impl Segments {
    /// Each segment's complete TLV, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.ranges.iter().map(|r| &self.buf[r.clone()])
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Each segment's value (without tag and length) sharing the one buffer: what the BPP's
    /// `SEQUENCE OF [n] OCTET STRING` carries, without copying.
    pub fn values(&self) -> Vec<rsp_asn1::OctetString> {
        self.ranges
            .iter()
            .map(|r| {
                let hdr = rsp_asn1::tlv::Tlv::read_exact(&self.buf[r.clone()])
                    .map_or(0, |t| t.raw.len() - t.value.len());
                rsp_asn1::OctetString::from(self.buf.slice(r.start + hdr..r.end))
            })
            .collect()
    }
}

/// Why a received segment was refused (the eUICC maps these to `errorReason`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// Wrong tag, length, or padding: `scp03tStructureError`.
    #[error("SCP03t structure: {0}")]
    Structure(String),
    /// The C-MAC does not verify: `scp03tSecurityError`.
    #[error("SCP03t security: C-MAC does not verify")]
    Mac,
}

/// A BSP instance: keys, block counter (from 1) and MAC chaining value.
#[derive(Clone)]
pub struct Bsp {
    enc: Aes,
    mac: Aes,
    k1: [u8; 16],
    k2: [u8; 16],
    mcv: [u8; 16],
    counter: u128,
    fused: bool,
}

impl Bsp {
    /// A fresh instance: counter 1, MCV = `initial_mcv`.
    pub fn new(s_enc: &[u8; 16], s_mac: &[u8; 16], initial_mcv: &[u8; 16], engine: Engine) -> Self {
        let enc = Aes::new(s_enc, engine);
        let mac = Aes::new(s_mac, engine);
        let fused = match (engine, &enc) {
            (Engine::Fused, _) => true,
            #[cfg(target_arch = "x86_64")]
            (Engine::Auto, Aes::Ni(_)) => false,
            (Engine::Auto, _) => true,
            (Engine::Portable, _) => false,
        };
        let mut l = [0u8; 16];
        mac.encrypt(&mut l);
        let k1 = dbl(&l);
        let k2 = dbl(&k1);
        Self {
            enc,
            mac,
            k1,
            k2,
            mcv: *initial_mcv,
            counter: 1,
            fused,
        }
    }

    /// From the KDF output.
    pub fn from_session_keys(keys: &SessionKeys, engine: Engine) -> Self {
        Self::new(&keys.s_enc, &keys.s_mac, &keys.initial_mcv, engine)
    }

    /// The current MAC chaining value (the last full CMAC).
    pub fn mcv(&self) -> &[u8; 16] {
        &self.mcv
    }

    /// The next block counter value.
    pub fn counter(&self) -> u128 {
        self.counter
    }

    /// ICVs for the next `n` encrypted segments, computed together (they depend only on the
    /// counter, so the AES blocks run in parallel instead of one per segment on the chain).
    pub(crate) fn next_icvs(&mut self, n: usize) -> Vec<[u8; 16]> {
        let mut v: Vec<[u8; 16]> = (0..n as u128)
            .map(|i| (self.counter + i).to_be_bytes())
            .collect();
        self.counter += n as u128;
        match &self.enc {
            #[cfg(target_arch = "x86_64")]
            Aes::Ni(k) => k.encrypt_many(&mut v),
            other => v.iter_mut().for_each(|b| other.encrypt(b)),
        }
        v
    }

    fn next_icv(&mut self) -> [u8; 16] {
        let mut icv = self.counter.to_be_bytes();
        self.counter += 1;
        self.enc.encrypt(&mut icv);
        icv
    }

    /// AES-CMAC over `mcv ‖ data` (data never block-aligned in BSP use, but handled generally).
    fn cmac_chain(&self, data: &[u8]) -> [u8; 16] {
        let mut m = self.mcv;
        self.mac.encrypt(&mut m);
        let full = if data.is_empty() {
            0
        } else {
            (data.len() - 1) / 16
        };
        for blk in data[..full * 16].chunks_exact(16) {
            xor(&mut m, blk);
            self.mac.encrypt(&mut m);
        }
        let rest = &data[full * 16..];
        let mut last = [0u8; 16];
        last[..rest.len()].copy_from_slice(rest);
        if rest.len() == 16 {
            xor(&mut last, &self.k1);
        } else {
            last[rest.len()] = 0x80;
            xor(&mut last, &self.k2);
        }
        xor(&mut m, &last);
        self.mac.encrypt(&mut m);
        m
    }

    /// Appends an encrypted and MACed segment `tag ‖ L ‖ C ‖ C-MAC` to `out`.
    /// `plaintext` must be at most [`MAX_ENCRYPTED_PLAINTEXT`] bytes for a ≤1020-byte TLV.
    pub fn encrypt_and_mac(&mut self, tag: u8, plaintext: &[u8], out: &mut Vec<u8>) {
        let icv = self.next_icv();
        self.encrypt_and_mac_with_icv(tag, plaintext, &icv, out);
    }

    /// [`Bsp::encrypt_and_mac`] with the ICV taken from [`Bsp::next_icvs`].
    pub(crate) fn encrypt_and_mac_with_icv(
        &mut self,
        tag: u8,
        plaintext: &[u8],
        icv: &[u8; 16],
        out: &mut Vec<u8>,
    ) {
        // The fused loops handle 2..=4-byte headers, i.e. up to 64 KiB; SGP.22 segments are
        // ≤ 1007 bytes, and anything larger takes the portable path rather than failing.
        if plaintext.len() < 0xFFF0
            && self
                .protect_fused(core::slice::from_ref(icv), tag, &[plaintext], out)
                .is_some()
        {
            return;
        }
        let padded = (plaintext.len() / 16 + 1) * 16;
        let start = out.len();
        out.push(tag);
        push_length(out, padded + 8);
        let hdr = out.len() - start;
        out.extend_from_slice(plaintext);
        out.push(0x80);
        out.resize(start + hdr + padded, 0);
        let seg = &mut out[start..];
        let mut c = *icv;
        for blk in seg[hdr..].chunks_exact_mut(16) {
            xor(&mut c, blk);
            self.enc.encrypt(&mut c);
            blk.copy_from_slice(&c);
        }
        let mac = self.cmac_chain(seg);
        self.mcv = mac;
        out.extend_from_slice(&mac[..8]);
    }

    /// The fused CBC+CMAC loop (AES-NI, or the `aes` crate's with [`Engine::Fused`]) over
    /// `chunks` (each under 0xFFF0 bytes) into `out`: each segment's range, the MCV moved on;
    /// `None`, touching nothing, where neither engine runs.
    fn protect_fused(
        &mut self,
        icvs: &[[u8; 16]],
        tag: u8,
        chunks: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Option<Vec<core::ops::Range<usize>>> {
        let (ranges, mcv) = match (&self.enc, &self.mac) {
            #[cfg(target_arch = "x86_64")]
            (Aes::Ni(e), Aes::Ni(m)) => {
                crate::aesni::protect_many(e, m, &self.k2, &self.mcv, icvs, tag, chunks, out)
            }
            (Aes::Soft(e), Aes::Soft(m)) if self.fused => {
                crate::fused::protect_many(e, m, &self.k2, &self.mcv, icvs, tag, chunks, out)
            }
            _ => return None,
        };
        self.mcv = mcv;
        Some(ranges)
    }

    /// Protects `data` as encrypted segments of at most [`MAX_ENCRYPTED_PLAINTEXT`] bytes (an
    /// empty input still gives one segment), all in one buffer: the profile hot path.
    pub fn protect(&mut self, tag: u8, data: &[u8]) -> Segments {
        let chunks: Vec<&[u8]> = if data.is_empty() {
            vec![&[][..]]
        } else {
            data.chunks(MAX_ENCRYPTED_PLAINTEXT).collect()
        };
        let icvs = self.next_icvs(chunks.len());
        let mut buf = Vec::with_capacity(data.len() + chunks.len() * 28);
        if let Some(ranges) = self.protect_fused(&icvs, tag, &chunks, &mut buf) {
            return Segments {
                buf: buf.into(),
                ranges,
            };
        }
        let mut ranges = Vec::with_capacity(chunks.len());
        for (chunk, icv) in chunks.iter().zip(&icvs) {
            let start = buf.len();
            self.encrypt_and_mac_with_icv(tag, chunk, icv, &mut buf);
            ranges.push(start..buf.len());
        }
        Segments {
            buf: buf.into(),
            ranges,
        }
    }

    /// Appends a MAC-only segment `tag ‖ L ‖ plaintext ‖ C-MAC` to `out`; the counter advances.
    pub fn mac_only(&mut self, tag: u8, plaintext: &[u8], out: &mut Vec<u8>) {
        self.counter += 1;
        let start = out.len();
        out.push(tag);
        push_length(out, plaintext.len() + 8);
        out.extend_from_slice(plaintext);
        let mac = self.cmac_chain(&out[start..]);
        self.mcv = mac;
        out.extend_from_slice(&mac[..8]);
    }

    /// Checks and decrypts a received encrypted segment (its whole TLV, `tag` expected).
    pub fn verify_and_decrypt(&mut self, tag: u8, tlv: &[u8]) -> Result<Vec<u8>, SegmentError> {
        let (hdr, body) = split(tag, tlv)?;
        if body.len() < 24 || (body.len() - 8) % 16 != 0 {
            return Err(SegmentError::Structure(format!(
                "encrypted segment body of {} bytes (16n + 8 expected)",
                body.len()
            )));
        }
        let icv = self.next_icv();
        let (c, mac) = body.split_at(body.len() - 8);
        self.check_mac(&tlv[..hdr + c.len()], mac)?;
        let mut p = c.to_vec();
        let mut prev = icv;
        for blk in p.chunks_exact_mut(16) {
            let cur: [u8; 16] = blk.try_into().unwrap_or([0; 16]);
            let mut b = cur;
            self.enc.decrypt(&mut b);
            xor(&mut b, &prev);
            blk.copy_from_slice(&b);
            prev = cur;
        }
        let pad = p
            .iter()
            .rposition(|b| *b != 0)
            .filter(|i| p[*i] == 0x80 && p.len() - i <= 16)
            .ok_or_else(|| SegmentError::Structure("bad 80 00… padding".into()))?;
        p.truncate(pad);
        Ok(p)
    }

    /// Checks a received MAC-only segment and returns its plaintext; the counter advances.
    pub fn verify_mac_only(&mut self, tag: u8, tlv: &[u8]) -> Result<Vec<u8>, SegmentError> {
        let (hdr, body) = split(tag, tlv)?;
        if body.len() < 8 {
            return Err(SegmentError::Structure(
                "MAC-only segment shorter than its MAC".into(),
            ));
        }
        self.counter += 1;
        let (p, mac) = body.split_at(body.len() - 8);
        self.check_mac(&tlv[..hdr + p.len()], mac)?;
        Ok(p.to_vec())
    }

    fn check_mac(&mut self, macced: &[u8], got: &[u8]) -> Result<(), SegmentError> {
        let full = self.cmac_chain(macced);
        // Constant-time comparison of the 8-byte C-MAC.
        let diff = full[..8].iter().zip(got).fold(0u8, |d, (a, b)| d | (a ^ b));
        if diff != 0 {
            return Err(SegmentError::Mac);
        }
        self.mcv = full;
        Ok(())
    }
}

/// (header length, body) of a segment TLV whose tag must be `tag`.
fn split(tag: u8, tlv: &[u8]) -> Result<(usize, &[u8]), SegmentError> {
    let t =
        rsp_asn1::tlv::Tlv::read_exact(tlv).map_err(|e| SegmentError::Structure(e.to_string()))?;
    if t.tag != [tag] {
        return Err(SegmentError::Structure(format!(
            "tag {} where {tag:02X} was expected",
            hex::encode_upper(t.tag)
        )));
    }
    if tlv.len() > MAX_SEGMENT_TLV {
        return Err(SegmentError::Structure(format!(
            "segment of {} bytes exceeds {MAX_SEGMENT_TLV}",
            tlv.len()
        )));
    }
    Ok((tlv.len() - t.value.len(), t.value))
}
