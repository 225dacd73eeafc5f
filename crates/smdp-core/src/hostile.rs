//! Hostile mode (`smdp serve --hostile SEED[:RATE]`): the SM-DP+ as a fuzzer of LPAs. A share
//! of its ES9+ answers (RATE, default 0.5) is mutated, structure-aware: a base64 DER field
//! has a TLV's tag or length changed, is truncated, gets a huge length or an unknown
//! extension, has a signature bit flipped; or a JSON field takes another session's
//! transaction ID or a value replayed from an earlier answer.
//!
//! Every mutation is a pure function of (SEED, answer number, answer, what was seen
//! before): the same seed against the same sequence of requests mutates the same bytes, and
//! each is logged with the seed and number that reproduce it.

use std::collections::HashMap;
use std::sync::Mutex;

use rand_core::{Rng as _, SeedableRng as _};
use serde_json::Value;

/// The JSON fields that carry base64 DER (ES9+ responses).
const DER_FIELDS: [&str; 8] = [
    "serverSigned1",
    "serverSignature1",
    "euiccCiPKIdToBeUsed",
    "serverCertificate",
    "profileMetadata",
    "smdpSigned2",
    "smdpSignature2",
    "boundProfilePackage",
];

/// What one mutation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutation {
    /// The answer's number (from 0), with the seed what reproduces it.
    pub n: u64,
    pub field: String,
    pub kind: &'static str,
}

/// Hostile mode's settings and its memory of earlier answers.
pub struct Hostile {
    pub seed: u64,
    /// Share of answers mutated, 0.0..=1.0.
    pub rate: f64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    n: u64,
    /// Earlier values per field (for replays and swapped transaction IDs).
    seen: HashMap<String, Vec<Value>>,
}

impl std::str::FromStr for Hostile {
    type Err = String;

    /// `SEED` or `SEED:RATE`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (seed, rate) = match s.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let seed = seed
            .parse()
            .map_err(|_| format!("hostile seed {seed:?} is not a number"))?;
        let rate = match rate {
            None => 0.5,
            Some(r) => r
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| format!("hostile rate {r:?} is not between 0 and 1"))?,
        };
        Ok(Self::new(seed, rate))
    }
}

impl Hostile {
    pub fn new(seed: u64, rate: f64) -> Self {
        Self {
            seed,
            rate,
            state: Mutex::new(State::default()),
        }
    }

    /// Maybe mutates one JSON answer: the new body and what was done, or `None` (left as is).
    pub fn mutate(&self, body: &[u8]) -> Option<(Vec<u8>, Mutation)> {
        let mut v: Value = serde_json::from_slice(body).ok()?;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let n = st.n;
        st.n += 1;
        let mut rng =
            rsp_auth::rng::Rng::seed_from_u64(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let obj = v.as_object()?.clone();
        // Remember this answer's fields for later replays, before mutating it.
        for (k, val) in &obj {
            if k != "header" {
                let e = st.seen.entry(k.clone()).or_default();
                if e.len() < 8 {
                    e.push(val.clone());
                }
            }
        }
        if (rng.next_u32() as f64 / u32::MAX as f64) >= self.rate {
            return None;
        }
        let fields: Vec<&String> = obj.keys().filter(|k| *k != "header").collect();
        if fields.is_empty() {
            return None;
        }
        let field = fields[rng.next_u32() as usize % fields.len()].clone();
        let choice = rng.next_u32() % 8;
        let kind = if choice >= 6 || !DER_FIELDS.contains(&field.as_str()) {
            // A JSON-level change: another session's transaction ID, or a replayed value.
            let pool = st.seen.get(&field).filter(|p| p.len() > 1);
            let replacement = match pool {
                Some(p) => p[rng.next_u32() as usize % (p.len() - 1)].clone(),
                None => Value::String("AAAA".into()),
            };
            v[&field] = replacement;
            if field == "transactionId" {
                "swapped transactionId"
            } else {
                "replayed value"
            }
        } else {
            let der = rsp_asn1::es9::base64_decode(obj[&field].as_str()?).ok()?;
            let (der, kind) = mutate_der(der, choice, &mut rng);
            v[&field] = rsp_asn1::es9::base64_encode(&der).into();
            kind
        };
        let m = Mutation { n, field, kind };
        tracing::warn!(seed = self.seed, n = m.n, field = %m.field, kind = m.kind, "hostile mutation");
        Some((serde_json::to_vec(&v).ok()?, m))
    }
}

/// Offsets of every TLV in `der` (walking constructed ones): (start, header length, value length).
fn tlvs(der: &[u8]) -> Vec<(usize, usize, usize)> {
    fn walk(b: &[u8], base: usize, out: &mut Vec<(usize, usize, usize)>, depth: usize) {
        let mut rest = b;
        while let Ok((t, r)) = rsp_asn1::tlv::Tlv::read(rest, 0) {
            let start = base + (b.len() - rest.len());
            let h = t.raw.len() - t.value.len();
            out.push((start, h, t.value.len()));
            if t.constructed && depth < 12 {
                walk(t.value, start + h, out, depth + 1);
            }
            rest = r;
        }
    }
    let mut out = Vec::new();
    walk(der, 0, &mut out, 0);
    out
}

fn mutate_der(
    mut der: Vec<u8>,
    choice: u32,
    rng: &mut rsp_auth::rng::Rng,
) -> (Vec<u8>, &'static str) {
    let all = tlvs(&der);
    if all.is_empty() || der.is_empty() {
        der.push(0);
        return (der, "garbage");
    }
    let (start, h, len) = all[rng.next_u32() as usize % all.len()];
    match choice {
        0 => {
            der[start] ^= 0x01 << (rng.next_u32() % 5);
            (der, "wrong tag")
        }
        1 => {
            // The last length octet, off by one.
            let at = start + h - 1;
            der[at] = der[at].wrapping_add(if rng.next_u32() % 2 == 0 { 1 } else { 0xFF });
            (der, "wrong length")
        }
        2 => {
            let cut = (rng.next_u32() as usize % der.len()).max(1);
            der.truncate(cut);
            (der, "truncation")
        }
        3 => {
            // The TLV's length field replaced by a 4-byte maximum.
            let tag_len = h - length_octets(&der[start..start + h]);
            let mut out = der[..start + tag_len].to_vec();
            out.extend([0x84, 0xFF, 0xFF, 0xFF, 0xFF]);
            out.extend_from_slice(&der[start + h..]);
            (out, "huge length")
        }
        4 => {
            // An unknown context-specific field at the end of the outer value (lengths fixed
            // only for the outermost TLV, as a careless encoder would).
            let (s0, h0, l0) = all[0];
            let mut value = der[s0 + h0..s0 + h0 + l0].to_vec();
            value.extend([0x9F, 0x7F, 0x01, 0x00]);
            let mut out = der[s0..s0 + (h0 - length_octets(&der[s0..s0 + h0]))].to_vec();
            rsp_asn1::tlv::push_length(&mut out, value.len());
            out.extend(value);
            (out, "unknown extension")
        }
        _ => {
            // A signature (5F37) bit, or any value bit when there is none.
            let sig = all
                .iter()
                .find(|(s, _, l)| der[*s..].starts_with(&[0x5F, 0x37]) && *l > 0)
                .copied();
            let (s, hh, l) = sig.unwrap_or((start, h, len));
            if l > 0 {
                let at = s + hh + rng.next_u32() as usize % l;
                der[at] ^= 0x01;
            }
            (
                der,
                if sig.is_some() {
                    "wrong signature"
                } else {
                    "flipped bit"
                },
            )
        }
    }
}

/// How many octets the length field at the end of a TLV header takes.
fn length_octets(header: &[u8]) -> usize {
    // The header is tag ‖ length; the length's first octet is 0x80|n for long forms.
    let mut t = 1;
    if header[0] & 0x1F == 0x1F {
        while t < header.len() && header[t] & 0x80 != 0 {
            t += 1;
        }
        t += 1;
    }
    header.len() - t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(i: u8) -> Vec<u8> {
        let der = [0x30, 0x08, 0x80, 0x01, i, 0x5F, 0x37, 0x02, 0xAA, 0xBB];
        serde_json::to_vec(&serde_json::json!({
            "header": {"functionExecutionStatus": {"status": "Executed-Success"}},
            "transactionId": format!("{:032X}", i),
            "serverSigned1": rsp_asn1::es9::base64_encode(&der),
            "smdpSignature2": rsp_asn1::es9::base64_encode(&der),
        }))
        .unwrap()
    }

    /// Same seed, same answers: the same mutated bytes; another seed: others.
    #[test]
    fn mutations_replay_from_the_seed() {
        let run = |seed| {
            let h = Hostile::new(seed, 1.0);
            (0..40).map(|i| h.mutate(&answer(i))).collect::<Vec<_>>()
        };
        let a = run(7);
        assert_eq!(a, run(7));
        assert_ne!(a, run(8));
        assert!(a.iter().all(Option::is_some), "rate 1 mutates every answer");
        let kinds: std::collections::HashSet<&str> =
            a.iter().flatten().map(|(_, m)| m.kind).collect();
        assert!(kinds.len() >= 5, "{kinds:?}");
        // The header is never touched: the LPA still parses an ES9+ answer.
        for (body, _) in a.iter().flatten() {
            let v: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(
                v["header"]["functionExecutionStatus"]["status"],
                "Executed-Success"
            );
        }
        let none = Hostile::new(7, 0.0);
        assert!((0..20).all(|i| none.mutate(&answer(i)).is_none()));
        assert!("7:1.5".parse::<Hostile>().is_err());
        assert!("x".parse::<Hostile>().is_err());
        assert_eq!("7".parse::<Hostile>().unwrap().rate, 0.5);
    }
}
