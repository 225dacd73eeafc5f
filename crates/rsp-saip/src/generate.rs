//! A minimal USIM profile the project owns: header, MF (EF.ICCID, EF.DIR, EF.ARR), PUKs, PINs,
//! ADF.USIM (EF.IMSI, EF.ARR, EF.UST, EF.SPN, EF.EST, EF.ACC, EF.ECC), the USIM PIN, a Milenage
//! akaParameter, optional padding EFs, end.
//!
//! Every file carries an explicit FCP (descriptor, FID, size, access rule) rather than relying
//! on the SAIP template defaults, so an installer needs no template tables to build the file
//! system. Encoded as DER (DEFAULT values omitted), like the TS.48 packages.

use rsp_asn1::ids::{luhn_check_digit, Iccid};
use rsp_asn1::tlv::push_tlv;

use crate::package::ProfilePackage;
use crate::personalise::{encode_ef_imsi, encode_ef_spn};
use crate::Error;

/// `2.23.143.1.2.1` (MF template), contents octets.
const OID_MF: &[u8] = &[0x67, 0x81, 0x0F, 0x01, 0x02, 0x01];
/// `2.23.143.1.2.4` (USIM template).
const OID_USIM: &[u8] = &[0x67, 0x81, 0x0F, 0x01, 0x02, 0x04];
/// The USIM application AID (3GPP RID, USIM app code 1002, country FF49, provider FF0589), as
/// in the TS.48 profiles.
pub const USIM_AID: [u8; 12] = hex_lit(b"A0000000871002FF49FF0589");
/// Largest transparent EF the padding creates: READ BINARY offsets are 15 bits.
const MAX_PAD_FILE: usize = 0x7FFF;
/// FIDs of the padding EFs (under the MF): up to 64 files of 32 KiB, 2 MiB.
const PAD_FIDS: core::ops::Range<u16> = 0x6F80..0x6FC0;
/// Identification of the first padding element (the fixed elements use 1..=8).
const PAD_ID: u8 = 9;

const fn hex_lit<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nib(s[2 * i]) << 4) | nib(s[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nib(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'A'..=b'F' => c - b'A' + 10,
        _ => panic!("not upper-case hex"),
    }
}

/// A size in bytes as people write it: `65536`, `64k`, `64KiB`, `1m` (k and m are 1024
/// and 1024²), for [`MinimalUsim::target_size`].
pub fn parse_size(s: &str) -> Result<usize, String> {
    let lower = s.trim().to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches("ib").trim_end_matches('b') {
        n if n.ends_with('k') => (&n[..n.len() - 1], 1024),
        n if n.ends_with('m') => (&n[..n.len() - 1], 1024 * 1024),
        n => (n, 1),
    };
    let n: usize = num
        .parse()
        .map_err(|_| format!("size {s:?} is not a number of bytes (e.g. 65536, 64k, 1m)"))?;
    n.checked_mul(mult).ok_or_else(|| "size too large".into())
}

/// What the generated profile holds. [`Default`] gives a test-network profile
/// (MCC 001, MNC 01) that personalisation then makes unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinimalUsim {
    /// 19 or 20 digits, the last a Luhn check digit.
    pub iccid: String,
    pub imsi: String,
    pub ki: [u8; 16],
    pub opc: [u8; 16],
    /// EF.SPN; `None` leaves the file blank (all `FF`).
    pub spn: Option<String>,
    /// Total package size to reach with padding EFs under the MF (`None`: no padding). Sizes
    /// below the unpadded profile are refused.
    pub target_size: Option<usize>,
}

impl Default for MinimalUsim {
    fn default() -> Self {
        Self {
            iccid: format!(
                "8900101000000000000{}",
                luhn_check_digit("8900101000000000000")
            ),
            imsi: "001010000000001".into(),
            ki: hex_lit(b"000102030405060708090A0B0C0D0E0F"),
            opc: [0; 16],
            spn: Some("smdp-sim".into()),
            target_size: None,
        }
    }
}

fn tlv(tag: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let value = parts.concat();
    let mut out = Vec::with_capacity(value.len() + 6);
    push_tlv(&mut out, tag, &value);
    out
}

/// DER length of a TLV with a one-byte tag and `n` value bytes.
fn tlv_len(n: usize) -> usize {
    let length = match n {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 5,
    };
    1 + length + n
}

/// `PEHeader { mandated NULL, identification id }`.
fn pe_header(id: u8) -> Vec<u8> {
    tlv(&[0xA0], &[&[0x80, 0x00], &tlv(&[0x81], &[&[id]])])
}

/// One FCP: file descriptor, FID, access rule (EF.ARR FID + record), size, optional SFI.
struct Ef {
    descriptor: &'static [u8],
    fid: u16,
    arr: &'static [u8],
    size: usize,
    sfi: Option<u8>,
}

fn min_be(n: usize) -> Vec<u8> {
    let b = n.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count().min(b.len() - 1);
    b[skip..].to_vec()
}

impl Ef {
    /// Fcp fields in order: fileDescriptor 82, fileID 83, securityAttributesReferenced 8B,
    /// efFileSize 80, shortEFID 88 (the SEQUENCE's own order, which DER keeps).
    fn fcp_fields(&self) -> Vec<u8> {
        let mut v = tlv(&[0x82], &[self.descriptor]);
        v.extend(tlv(&[0x83], &[&self.fid.to_be_bytes()]));
        v.extend(tlv(&[0x8B], &[self.arr]));
        v.extend(tlv(&[0x80], &[&min_be(self.size)]));
        if let Some(sfi) = self.sfi {
            v.extend(tlv(&[0x88], &[&[sfi << 3]]));
        }
        v
    }

    /// A `File` field with this FCP (`A1`) and contents (`83`), under context tag `tag`.
    fn file(&self, tag: u8, content: &[u8]) -> Vec<u8> {
        debug_assert!(content.len() <= self.size);
        let fcp = tlv(&[0xA1], &[&self.fcp_fields()]);
        if content.is_empty() {
            tlv(&[tag], &[&fcp])
        } else {
            tlv(&[tag], &[&fcp, &tlv(&[0x83], &[content])])
        }
    }
}

/// Records of an EF.ARR in expanded format, each padded to `len` with `FF`.
fn arr_records(records: &[&[u8]], len: usize) -> Vec<u8> {
    records
        .iter()
        .flat_map(|r| {
            let mut r = r.to_vec();
            r.resize(len, 0xFF);
            r
        })
        .collect()
}

/// Access rules (TS 102 221 expanded format: AM byte, then SC_DOs). PIN1 = key reference 01,
/// ADM1 = 0A; `90 00` = always.
const ARR_RECORDS: [&[u8]; 4] = [
    // 1: DFs — everything ADM1, select always.
    &hex_lit::<16>(b"8001019000800176A40683010A950108"),
    // 2: read PIN1, update ADM1.
    &hex_lit::<22>(b"800101A406830101950108800102A40683010A950108"),
    // 3: read always, update ADM1.
    &hex_lit::<16>(b"8001019000800102A40683010A950108"),
    // 4: read and update PIN1, (de)activate ADM1.
    &hex_lit::<22>(b"800103A406830101950108800118A40683010A950108"),
];
const ARR_RECORD_LEN: usize = 0x20;

/// EF.DIR record for the USIM: `61 { 4F AID, 50 "USIM" }`, padded to the record length.
fn ef_dir_record() -> Vec<u8> {
    let app = tlv(
        &[0x61],
        &[&tlv(&[0x4F], &[&USIM_AID]), &tlv(&[0x50], &[b"USIM"])],
    );
    let mut r = app;
    r.resize(0x21, 0xFF);
    r
}

/// EF.ACC: the access class from the IMSI's last digit (TS 22.011 §4.2), one bit of 16.
pub fn ef_acc(imsi: &str) -> [u8; 2] {
    let last = imsi.bytes().last().map_or(0, |c| c.wrapping_sub(b'0')) % 10;
    (1u16 << last).to_be_bytes()
}

impl MinimalUsim {
    fn header(&self) -> Result<Vec<u8>, Error> {
        luhn_checked(&self.iccid)?;
        let plain = hex::decode(format!("{:F<20}", self.iccid)).map_err(|e| bad(e.to_string()))?;
        // ServicesList: usim [1], milenage [4] (NULLs).
        let services = tlv(&[0xA5], &[&[0x81, 0x00, 0x84, 0x00]]);
        let gfste = tlv(
            &[0xA6],
            &[&tlv(&[0x06], &[OID_MF]), &tlv(&[0x06], &[OID_USIM])],
        );
        Ok(tlv(
            &[0xA0],
            &[
                &tlv(&[0x80], &[&[2]]),
                &tlv(&[0x81], &[&[3]]),
                &tlv(&[0x82], &[b"smdp-sim minimal USIM"]),
                &tlv(&[0x83], &[&plain]),
                &services,
                &gfste,
            ],
        ))
    }

    fn mf(&self) -> Result<Vec<u8>, Error> {
        let iccid = luhn_checked(&self.iccid)?;
        let mf = tlv(
            &[0xA2],
            &[&tlv(
                &[0xA1],
                &[
                    &tlv(&[0x8B], &[&[0x2F, 0x06, 0x01]]),
                    &tlv(&[0xC6], &[&[0x01, 0x0A, 0x0B]]),
                ],
            )],
        );
        let ef_iccid = Ef {
            descriptor: &[0x41, 0x21],
            fid: 0x2FE2,
            arr: &[0x2F, 0x06, 0x03],
            size: 10,
            sfi: Some(0x02),
        };
        let ef_dir = Ef {
            descriptor: &[0x42, 0x21, 0x00, 0x21],
            fid: 0x2F00,
            arr: &[0x2F, 0x06, 0x03],
            size: 0x21,
            sfi: Some(0x1E),
        };
        let arr = arr_records(&ARR_RECORDS, ARR_RECORD_LEN);
        let ef_arr = Ef {
            descriptor: &[0x42, 0x21, 0x00, ARR_RECORD_LEN as u8],
            fid: 0x2F06,
            arr: &[0x2F, 0x06, 0x03],
            size: arr.len(),
            sfi: Some(0x06),
        };
        // PE-MF: 0 header, 1 templateID, 2 mf, (3 ef-pl), 4 ef-iccid, 5 ef-dir, 6 ef-arr.
        Ok(tlv(
            &[0xB0],
            &[
                &pe_header(1),
                &tlv(&[0x81], &[OID_MF]),
                &mf,
                &ef_iccid.file(0xA4, iccid.as_bytes()),
                &ef_dir.file(0xA5, &ef_dir_record()),
                &ef_arr.file(0xA6, &arr),
            ],
        ))
    }

    fn usim(&self) -> Result<Vec<u8>, Error> {
        let adf = tlv(
            &[0xA2],
            &[&tlv(
                &[0xA1],
                &[
                    &tlv(&[0x83], &[&[0x7F, 0xD0]]),
                    &tlv(&[0x84], &[&USIM_AID]),
                    &tlv(&[0x8B], &[&[0x2F, 0x06, 0x01]]),
                    &tlv(&[0xC6], &[&[0x81, 0x01, 0x0A, 0x0B]]),
                ],
            )],
        );
        let ef = |fid: u16, rec: &'static [u8], size: usize, sfi: u8| Ef {
            descriptor: &[0x41, 0x21],
            fid,
            arr: rec,
            size,
            sfi: Some(sfi),
        };
        let imsi = pad_ff(encode_ef_imsi(&self.imsi).map_err(bad)?, 9);
        let arr = arr_records(&ARR_RECORDS, ARR_RECORD_LEN);
        let ef_arr = Ef {
            descriptor: &[0x42, 0x21, 0x00, ARR_RECORD_LEN as u8],
            fid: 0x6F06,
            arr: &[0x6F, 0x06, 0x03],
            size: arr.len(),
            sfi: Some(0x17),
        };
        // UST: service 19 (SPN) → byte 3 bit 3.
        let ust = [0x00, 0x00, 0x04, 0x00];
        let spn = match &self.spn {
            Some(name) => encode_ef_spn(name).map_err(bad)?.to_vec(),
            None => vec![0xFF; 17],
        };
        let ecc = Ef {
            descriptor: &[0x42, 0x21, 0x00, 0x04],
            fid: 0x6FB7,
            arr: &[0x6F, 0x06, 0x03],
            size: 4,
            sfi: Some(0x01),
        };
        // PE-USIM fields: 0 header, 1 templateID, 2 adf-usim, 3 ef-imsi, 4 ef-arr, 8 ef-ust,
        // 13 ef-spn, 14 ef-est, 18 ef-acc, 22 ef-ecc.
        Ok(tlv(
            &[0xB3],
            &[
                &pe_header(4),
                &tlv(&[0x81], &[OID_USIM]),
                &adf,
                &ef(0x6F07, &[0x6F, 0x06, 0x02], 9, 0x07).file(0xA3, &imsi),
                &ef_arr.file(0xA4, &arr),
                &ef(0x6F38, &[0x6F, 0x06, 0x02], ust.len(), 0x04).file(0xA8, &ust),
                &ef(0x6F46, &[0x6F, 0x06, 0x03], 17, 0x0E).file(0xAD, &spn),
                &ef(0x6F56, &[0x6F, 0x06, 0x04], 1, 0x05).file(0xAE, &[0x00]),
                &ef(0x6F78, &[0x6F, 0x06, 0x02], 2, 0x06).file(0xB2, &ef_acc(&self.imsi)),
                // "112", no alpha identifier, no category.
                &ecc.file(0xB6, &[0x11, 0xF2, 0xFF, 0x00]),
            ],
        ))
    }

    fn codes() -> [Vec<u8>; 3] {
        let puk = |r: &[u8], v: &[u8]| tlv(&[0x30], &[&tlv(&[0x80], &[r]), &tlv(&[0x81], &[v])]);
        let pin = |r: &[u8], v: &[u8], unblock: Option<&[u8]>, attrs: u8, tries: Option<u8>| {
            let mut f = tlv(&[0x80], &[r]);
            f.extend(tlv(&[0x81], &[v]));
            if let Some(u) = unblock {
                f.extend(tlv(&[0x82], &[u]));
            }
            f.extend(tlv(&[0x83], &[&[attrs]]));
            if let Some(t) = tries {
                f.extend(tlv(&[0x84], &[&[0x00, t]]));
            }
            tlv(&[0x30], &[&f])
        };
        // PUK1 "11111111", second PUK1 "22222222" (retry counter default 0xAA).
        let puks = tlv(
            &[0xA3],
            &[
                &pe_header(2),
                &tlv(
                    &[0xA1],
                    &[&puk(&[0x01], b"11111111"), &puk(&[0x00, 0x81], b"22222222")],
                ),
            ],
        );
        // Global PIN1 "0000" (unblocked by PUK1, attributes 6) and ADM1 "55555555" (170 tries
        // as 0xAA needs a leading 00 in INTEGER).
        let global = tlv(
            &[0xA2],
            &[
                &pe_header(3),
                &tlv(
                    &[0xA1],
                    &[&tlv(
                        &[0xA0],
                        &[
                            &pin(&[0x01], b"0000\xFF\xFF\xFF\xFF", Some(&[0x01]), 6, None),
                            &pin(&[0x0A], b"55555555", None, 3, Some(0xAA)),
                        ],
                    )],
                ),
            ],
        );
        // USIM local PIN (second PIN1 "9999", unblocked by second PUK1).
        let local = tlv(
            &[0xA2],
            &[
                &pe_header(5),
                &tlv(
                    &[0xA1],
                    &[&tlv(
                        &[0xA0],
                        &[&pin(
                            &[0x00, 0x81],
                            b"9999\xFF\xFF\xFF\xFF",
                            Some(&[0x00, 0x81]),
                            3,
                            None,
                        )],
                    )],
                ),
            ],
        );
        [puks, global, local]
    }

    fn aka(&self) -> Vec<u8> {
        // algoConfiguration [1] (explicit: a CHOICE) → algoParameter [1] { algorithmID
        // milenage(1), algorithmOptions 00, key, opc } — rotation/xoring constants, SQN
        // options at their DEFAULTs, so omitted.
        let param = tlv(
            &[0xA1],
            &[
                &tlv(&[0x80], &[&[0x01]]),
                &tlv(&[0x81], &[&[0x00]]),
                &tlv(&[0x82], &[&self.ki]),
                &tlv(&[0x83], &[&self.opc]),
            ],
        );
        tlv(&[0xA4], &[&pe_header(6), &tlv(&[0xA1], &[&param])])
    }

    /// One `genericFileManagement` element creating a transparent EF under the MF that holds
    /// `size` bytes of filler from `state` (an LCG, so the bytes do not compress and BSP cost
    /// is realistic). One element per file, so that each element's lengths can be moved off a
    /// DER length boundary independently (see [`Self::padded`]).
    fn padding(i: usize, size: usize, state: &mut u32) -> Vec<u8> {
        let content: Vec<u8> = (0..size)
            .map(|_| {
                *state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (*state >> 24) as u8
            })
            .collect();
        // FileManagement: filePath [0] '' (the MF), createFCP [APPLICATION 2],
        // fillFileContent [1].
        let cmd = tlv(
            &[0x30],
            &[
                &[0x80, 0x00],
                &tlv(&[0x62], &[&Self::padding_fcp(i, size).fcp_fields()]),
                &tlv(&[0x81], &[&content]),
            ],
        );
        tlv(
            &[0xA1],
            &[&pe_header(PAD_ID + i as u8), &tlv(&[0xA1], &[&cmd])],
        )
    }

    fn padding_fcp(i: usize, size: usize) -> Ef {
        Ef {
            descriptor: &[0x41, 0x21],
            fid: PAD_FIDS.start + i as u16,
            arr: &[0x2F, 0x06, 0x03],
            size,
            sfi: None,
        }
    }

    /// DER length of a padding element with `size` content bytes, counted rather than built:
    /// the size search calls this a few dozen times per package.
    fn padding_len(size: usize) -> usize {
        let fcp = Self::padding_fcp(0, size).fcp_fields().len();
        let cmd = tlv_len(2 + tlv_len(fcp) + tlv_len(size));
        tlv_len(pe_header(PAD_ID).len() + tlv_len(cmd))
    }

    fn assemble(&self, pad: &[usize]) -> Result<Vec<u8>, Error> {
        let [puks, global, local] = Self::codes();
        let mut parts = vec![self.header()?, self.mf()?, puks, global];
        let mut state: u32 = 0x1234_5678;
        for (i, &size) in pad.iter().enumerate() {
            parts.push(Self::padding(i, size, &mut state));
        }
        parts.extend([self.usim()?, local, self.aka()]);
        // end: PE-End { PEHeader }.
        parts.push(tlv(&[0xAA], &[&pe_header(8)]));
        Ok(parts.concat())
    }

    /// Builds the package; with a target size, padding EFs bring it to exactly that many bytes.
    pub fn build(&self) -> Result<ProfilePackage, Error> {
        let base = self.assemble(&[])?;
        let der = match self.target_size {
            None => base,
            Some(t) if t == base.len() => base,
            Some(t) => {
                let sizes = Self::padded(t, base.len())?;
                self.assemble(&sizes)?
            }
        };
        let pkg = ProfilePackage::parse(&der)?;
        pkg.validate()?;
        Ok(pkg)
    }

    /// Padding file sizes whose elements add exactly `target - base` bytes.
    ///
    /// An element grows by one byte per content byte, except where one of its DER lengths gains
    /// an octet, which skips a total. So: fill all files but the last evenly, solve the last
    /// exactly by bisection, and if the remainder falls on a skipped total, move a byte or two
    /// from the first file (whose own lengths then sit off the boundary) or add a file.
    fn padded(target: usize, base: usize) -> Result<Vec<usize>, Error> {
        let too_small = || {
            bad(format!(
                "target size {target} is below the smallest padded profile ({} bytes; {base} \
                 without padding)",
                base + Self::padding_len(1)
            ))
        };
        let need = target.checked_sub(base).ok_or_else(too_small)?;
        if need < Self::padding_len(1) {
            return Err(too_small());
        }
        let solve_last = |remainder: usize| -> Option<usize> {
            let (mut lo, mut hi) = (1usize, MAX_PAD_FILE);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if Self::padding_len(mid) >= remainder {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            (Self::padding_len(lo) == remainder).then_some(lo)
        };
        let fewest = need.div_ceil(Self::padding_len(MAX_PAD_FILE));
        for files in fewest..fewest + 3 {
            if files > PAD_FIDS.len() {
                break;
            }
            let even = (need / files).saturating_sub(64).clamp(1, MAX_PAD_FILE);
            for shift in 0..4 {
                let mut sizes = vec![even; files];
                if files > 1 {
                    sizes[0] = even.saturating_sub(shift).max(1);
                } else if shift > 0 {
                    break;
                }
                let used: usize = sizes[..files - 1]
                    .iter()
                    .map(|s| Self::padding_len(*s))
                    .sum();
                if let Some(last) = need.checked_sub(used).and_then(solve_last) {
                    sizes[files - 1] = last;
                    return Ok(sizes);
                }
            }
        }
        Err(bad(format!(
            "cannot reach exactly {target} bytes with padding files (limit {} files)",
            PAD_FIDS.len()
        )))
    }
}

fn pad_ff(mut v: Vec<u8>, len: usize) -> Vec<u8> {
    v.resize(len.max(v.len()), 0xFF);
    v
}

/// The ICCID as EF.ICCID bytes, refused unless its last digit is the Luhn check digit.
pub(crate) fn luhn_checked(digits: &str) -> Result<Iccid, Error> {
    let iccid = Iccid::from_digits(digits).map_err(|e| bad(e.to_string()))?;
    if !iccid.luhn_ok() {
        return Err(bad(format!(
            "ICCID {digits}: the last digit is not the Luhn check digit"
        )));
    }
    Ok(iccid)
}

fn bad(rule: String) -> Error {
    Error::Rule {
        index: 0,
        pe: "header",
        rule,
    }
}

#[cfg(test)]
mod tests {
    use super::MinimalUsim;

    /// The counted length is the built one, across every DER length boundary a file can hit.
    #[test]
    fn padding_len_counts_what_padding_builds() {
        let sizes = (1..300).chain([0xFFF, 0x1000, super::MAX_PAD_FILE - 1, super::MAX_PAD_FILE]);
        for size in sizes {
            assert_eq!(
                MinimalUsim::padding_len(size),
                MinimalUsim::padding(0, size, &mut 0).len(),
                "size {size}"
            );
        }
        for n in [0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x1_0000] {
            let built = super::tlv(&[0x81], &[&vec![0; n]]).len();
            assert_eq!(super::tlv_len(n), built, "{n}");
        }
    }
}
