//! The fused CBC-encrypt + CMAC loop of [`crate::aesni`], in safe code on the `aes` crate's
//! block-closure API: one backend dispatch per key for a whole profile, and inside it the two
//! AES chains of every segment run in one loop so the CPU can overlap them.
//!
//! MAC input block j of a segment (after the MCV block) is the last `H` bytes of ciphertext
//! block j-1 (the `H`-byte header for j = 0) followed by the first `16 - H` bytes of block j.

use aes::cipher::consts::U16;
use aes::cipher::{
    Array, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt as _, BlockSizeUser,
};

/// The whole job; the closures fill `ranges` and `mcv`.
struct Job<'a> {
    mac: &'a aes::Aes128,
    k2: [u8; 16],
    mcv: [u8; 16],
    icvs: &'a [[u8; 16]],
    tag: u8,
    chunks: &'a [&'a [u8]],
    out: &'a mut Vec<u8>,
    ranges: Vec<core::ops::Range<usize>>,
}

/// Protects each of `chunks` as an encrypted segment appended to `out` (same contract as
/// [`crate::aesni::protect_many`]).
#[allow(clippy::too_many_arguments)] // the BSP state, passed flat into the hot loop
pub fn protect_many(
    enc: &aes::Aes128,
    mac: &aes::Aes128,
    k2: &[u8; 16],
    mcv: &[u8; 16],
    icvs: &[[u8; 16]],
    tag: u8,
    chunks: &[&[u8]],
    out: &mut Vec<u8>,
) -> (Vec<core::ops::Range<usize>>, [u8; 16]) {
    assert_eq!(icvs.len(), chunks.len());
    let mut job = Job {
        mac,
        k2: *k2,
        mcv: *mcv,
        icvs,
        tag,
        chunks,
        out,
        ranges: Vec::with_capacity(chunks.len()),
    };
    enc.encrypt_with_backend(WithEnc { job: &mut job });
    (job.ranges, job.mcv)
}

struct WithEnc<'a, 'b> {
    job: &'b mut Job<'a>,
}

impl BlockSizeUser for WithEnc<'_, '_> {
    type BlockSize = U16;
}

impl BlockCipherEncClosure for WithEnc<'_, '_> {
    #[inline(always)]
    fn call<E: BlockCipherEncBackend<BlockSize = U16>>(self, enc: &E) {
        let mac = self.job.mac;
        mac.encrypt_with_backend(WithBoth { job: self.job, enc });
    }
}

struct WithBoth<'a, 'b, 'e, E> {
    job: &'b mut Job<'a>,
    enc: &'e E,
}

impl<E> BlockSizeUser for WithBoth<'_, '_, '_, E> {
    type BlockSize = U16;
}

impl<E: BlockCipherEncBackend<BlockSize = U16>> BlockCipherEncClosure for WithBoth<'_, '_, '_, E> {
    #[inline(always)]
    fn call<M: BlockCipherEncBackend<BlockSize = U16>>(self, mac: &M) {
        let job = self.job;
        let total: usize = job
            .chunks
            .iter()
            .map(|c| (c.len() / 16 + 1) * 16 + 12)
            .sum();
        job.out.reserve(total);
        for (chunk, icv) in job.chunks.iter().zip(job.icvs) {
            let start = job.out.len();
            job.out.push(job.tag);
            rsp_asn1::tlv::push_length(job.out, (chunk.len() / 16 + 1) * 16 + 8);
            let hdr = job.out.len() - start;
            let (e, mcv, k2) = (self.enc, &job.mcv, &job.k2);
            let m = match hdr {
                2 => segment::<2, _, _>(e, mac, icv, mcv, k2, chunk, job.out),
                3 => segment::<3, _, _>(e, mac, icv, mcv, k2, chunk, job.out),
                4 => segment::<4, _, _>(e, mac, icv, mcv, k2, chunk, job.out),
                _ => unreachable!("BER tag + length of a ≤64 KiB segment is 2..=4 bytes"),
            };
            job.mcv = m;
            job.out.extend_from_slice(&m[..8]);
            job.ranges.push(start..job.out.len());
        }
    }
}

type Block = Array<u8, U16>;

#[inline(always)]
fn xor(a: &mut Block, b: &[u8]) {
    for (a, b) in a.iter_mut().zip(b) {
        *a ^= b;
    }
}

/// One segment with an `H`-byte header already in `out`: appends the ciphertext and returns
/// the full CMAC. The chained values stay in vector registers (a round trip through general
/// registers on the CBC chain cost 20 %); the MAC reads its input back from `out`, off the
/// critical path, so the MAC chain runs a constant few cycles behind the cipher.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn segment<const H: usize, E, M>(
    enc: &E,
    mac: &M,
    icv: &[u8; 16],
    mcv: &[u8; 16],
    k2: &[u8; 16],
    chunk: &[u8],
    out: &mut Vec<u8>,
) -> [u8; 16]
where
    E: BlockCipherEncBackend<BlockSize = U16>,
    M: BlockCipherEncBackend<BlockSize = U16>,
{
    let n = chunk.len() / 16 + 1;
    let base = out.len();
    let seg = base - H;
    out.resize(base + 16 * n, 0);
    let mut m = Block::from(*mcv);
    mac.encrypt_block_inplace(&mut m);
    let mut c = Block::from(*icv);
    // The previous ciphertext block (the header for the first), little-endian: byte i is
    // bits 8i..8i+8, so the MAC block is two shifts of it and the new block.
    let mut prev = {
        let mut h = [0u8; 16];
        h[16 - H..].copy_from_slice(&out[seg..base]);
        u128::from_le_bytes(h)
    };
    let mut step = |j: usize, p: &[u8], m: &mut Block| {
        xor(&mut c, p);
        enc.encrypt_block_inplace(&mut c);
        out[base + 16 * j..base + 16 * j + 16].copy_from_slice(&c);
        let cur = u128::from_le_bytes(c.into());
        let x = (prev >> (128 - 8 * H)) | (cur << (8 * H));
        prev = cur;
        xor(m, &x.to_le_bytes());
        mac.encrypt_block_inplace(m);
    };
    let mut blocks = chunk.chunks_exact(16);
    for (j, b) in (&mut blocks).enumerate() {
        step(j, b, &mut m);
    }
    let rest = blocks.remainder();
    let mut last = [0u8; 16];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] = 0x80;
    step(n - 1, &last, &mut m);
    // The MAC input ends H bytes into a block: padded with 80 00… and masked with K2.
    let mut tail = [0u8; 16];
    tail[..H].copy_from_slice(&out[seg + 16 * n..]);
    tail[H] = 0x80;
    xor(&mut m, &tail);
    xor(&mut m, k2);
    mac.encrypt_block_inplace(&mut m);
    m.into()
}
