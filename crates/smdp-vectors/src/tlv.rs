//! Paths into DER, by tag: the recorder reads signed data as the raw bytes that went over the
//! wire (digest §4.1: never re-encode before verifying), so it walks TLVs rather than decoding.

use anyhow::{anyhow, Context, Result};
use rsp_asn1::tlv::Tlv;

/// The TLV reached from `der` through the children with these tags, in turn (the first child
/// with each tag; `der` itself is the first step).
pub fn at<'a>(der: &'a [u8], path: &[&[u8]]) -> Result<Tlv<'a>> {
    let (first, rest) = path.split_first().context("empty TLV path")?;
    let mut t = Tlv::read_exact(der).map_err(|e| anyhow!("{}: {e}", hex::encode(first)))?;
    if t.tag != *first {
        return Err(anyhow!(
            "expected tag {}, found {}",
            hex::encode(first),
            hex::encode(t.tag)
        ));
    }
    for tag in rest {
        t = child(&t, tag)?;
    }
    Ok(t)
}

/// The first child of `t` with `tag`.
pub fn child<'a>(t: &Tlv<'a>, tag: &[u8]) -> Result<Tlv<'a>> {
    for c in t.children() {
        let c = c.map_err(|e| anyhow!("inside {}: {e}", hex::encode(t.tag)))?;
        if c.tag == tag {
            return Ok(c);
        }
    }
    Err(anyhow!(
        "{} has no {} child",
        hex::encode(t.tag),
        hex::encode(tag)
    ))
}

/// Every child of `t` with `tag`, in order.
pub fn children<'a>(t: &Tlv<'a>, tag: &[u8]) -> Result<Vec<Tlv<'a>>> {
    let mut out = Vec::new();
    for c in t.children() {
        let c = c.map_err(|e| anyhow!("inside {}: {e}", hex::encode(t.tag)))?;
        if c.tag == tag {
            out.push(c);
        }
    }
    Ok(out)
}

/// The first child of `t` with `tag`, if any.
pub fn optional<'a>(t: &Tlv<'a>, tag: &[u8]) -> Option<Tlv<'a>> {
    child(t, tag).ok()
}
