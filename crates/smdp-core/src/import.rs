//! Pre-installed profiles (Super SIM: "When eSIMs are manufactured with profiles
//! pre-installed, the ESimProfile resource will be added in this state (`installed`)"): the
//! manufacturer's batch file, one row per eUICC, parsed and validated as a whole.
//!
//! Formats: CSV with a header (`eid,iccid,imsi,ki,opc[,spn][,sim_unique_name]`) or a JSON
//! array of objects with the same keys. Every row is checked (EID check digits, ICCID Luhn,
//! IMSI length, Ki/OPc lengths, duplicates within the file) and every bad row is reported
//! with its reason; a file with any bad row imports nothing.

use rsp_asn1::ids::{luhn_check_digit, Eid};
use serde::Deserialize;

/// One row as written in the file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    /// Required for pre-installed profiles; empty (or absent) for the inventory.
    #[serde(default)]
    eid: String,
    iccid: String,
    imsi: String,
    ki: String,
    opc: String,
    #[serde(default)]
    spn: Option<String>,
    #[serde(default)]
    sim_unique_name: Option<String>,
}

/// A validated row: a profile installed at manufacture on one eUICC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreinstalledProfile {
    /// 1-based row number in the file (the header is not counted).
    pub row: usize,
    pub eid: Eid,
    /// 19 or 20 digits, the last a valid Luhn check digit.
    pub iccid: String,
    pub imsi: String,
    pub ki: [u8; 16],
    pub opc: [u8; 16],
    pub spn: Option<String>,
    pub sim_unique_name: Option<String>,
}

/// What is wrong with a file: every bad row with its reason (or why the file cannot be read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(|(r, m)| if *r == 0 { m.clone() } else { format!("row {r}: {m}") }).collect::<Vec<_>>().join("; "))]
pub struct ImportReport {
    /// (row, reason); row 0 is the file as a whole.
    pub problems: Vec<(usize, String)>,
}

impl ImportReport {
    fn file(msg: impl Into<String>) -> Self {
        Self {
            problems: vec![(0, msg.into())],
        }
    }
}

/// A validated row for the ES2+ inventory: the same file format, with no EID (a profile is
/// bound to an eUICC when an operator orders it) and no Sim name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRow {
    pub row: usize,
    pub iccid: String,
    pub imsi: String,
    pub ki: [u8; 16],
    pub opc: [u8; 16],
    pub spn: Option<String>,
}

/// Parses and validates a batch file for the inventory (`smdp inventory import`): the
/// pre-installed format, each row's `eid` and `sim_unique_name` empty.
pub fn parse_inventory(bytes: &[u8]) -> Result<Vec<InventoryRow>, ImportReport> {
    Ok(parse_rows(bytes, false)?
        .into_iter()
        .map(|c| c.profile)
        .collect())
}

/// Parses and validates a batch file (CSV, or JSON when it starts with `[`).
pub fn parse(bytes: &[u8]) -> Result<Vec<PreinstalledProfile>, ImportReport> {
    parse_rows(bytes, true)?
        .into_iter()
        .map(|c| {
            let eid = c
                .eid
                .ok_or_else(|| ImportReport::file("a pre-installed row without its EID"))?;
            let p = c.profile;
            Ok(PreinstalledProfile {
                row: p.row,
                eid,
                iccid: p.iccid,
                imsi: p.imsi,
                ki: p.ki,
                opc: p.opc,
                spn: p.spn,
                sim_unique_name: c.sim_unique_name,
            })
        })
        .collect()
}

/// A row as checked: its eUICC (pre-installed rows only) and Sim name beside the profile.
struct Checked {
    eid: Option<Eid>,
    profile: InventoryRow,
    sim_unique_name: Option<String>,
}

/// With `installed`, every row names its eUICC; without, none may.
fn parse_rows(bytes: &[u8], installed: bool) -> Result<Vec<Checked>, ImportReport> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| ImportReport::file("the file is not UTF-8"))?;
    let raw: Vec<(usize, Result<RawRow, String>)> = if text.trim_start().starts_with('[') {
        let values: Vec<serde_json::Value> =
            serde_json::from_str(text).map_err(|e| ImportReport::file(format!("JSON: {e}")))?;
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, serde_json::from_value(v).map_err(|e| e.to_string())))
            .collect()
    } else {
        let mut r = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        r.deserialize::<RawRow>()
            .enumerate()
            .map(|(i, row)| (i + 1, row.map_err(|e| e.to_string())))
            .collect()
    };
    if raw.is_empty() {
        return Err(ImportReport::file("the file has no rows"));
    }
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    for (n, r) in raw {
        match r.and_then(|r| validate(n, r, installed)) {
            Ok(p) => rows.push(p),
            Err(e) => problems.push((n, e)),
        }
    }
    // Duplicates within the file.
    for (i, c) in rows.iter().enumerate() {
        for d in &rows[..i] {
            let (a, b) = (&c.profile, &d.profile);
            if a.iccid == b.iccid {
                problems.push((a.row, format!("ICCID {} repeats row {}", a.iccid, b.row)));
            }
            if a.imsi == b.imsi {
                problems.push((a.row, format!("IMSI {} repeats row {}", a.imsi, b.row)));
            }
            if c.sim_unique_name.is_some() && c.sim_unique_name == d.sim_unique_name {
                problems.push((a.row, format!("sim_unique_name repeats row {}", b.row)));
            }
        }
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        problems.sort();
        Err(ImportReport { problems })
    }
}

fn key(what: &str, hex_text: &str) -> Result<[u8; 16], String> {
    hex::decode(hex_text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{what} must be 32 hex digits (16 bytes)"))
}

fn validate(row: usize, r: RawRow, installed: bool) -> Result<Checked, String> {
    let eid = if installed {
        Some(Eid::parse(&r.eid).map_err(|e| format!("EID {:?}: {e}", r.eid))?)
    } else {
        if !r.eid.is_empty() {
            return Err(format!(
                "EID {:?}: an inventory profile has no eUICC until an operator orders it \
                 (DownloadOrder's eid); leave the column empty",
                r.eid
            ));
        }
        if r.sim_unique_name.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err("sim_unique_name: an inventory profile's Sim is made when it is ordered; leave it empty".into());
        }
        None
    };
    let digits = r.iccid.bytes().all(|c| c.is_ascii_digit());
    if !digits || !(19..=20).contains(&r.iccid.len()) {
        return Err(format!("ICCID {:?} must be 19 or 20 digits", r.iccid));
    }
    let (payload, check) = r.iccid.split_at(r.iccid.len() - 1);
    if check.as_bytes()[0] - b'0' != luhn_check_digit(payload) {
        return Err(format!("ICCID {}: wrong Luhn check digit", r.iccid));
    }
    if !(6..=15).contains(&r.imsi.len()) || !r.imsi.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("IMSI {:?} must be 6 to 15 digits", r.imsi));
    }
    let spn = r.spn.filter(|s| !s.is_empty());
    if let Some(s) = &spn {
        if s.chars().count() > 16 || s.chars().any(char::is_control) {
            return Err("spn is at most 16 printable characters (EF.SPN)".into());
        }
    }
    let sim_unique_name = r.sim_unique_name.filter(|s| !s.is_empty());
    if let Some(s) = &sim_unique_name {
        if s.chars().count() > 64 || s.starts_with("HS") && s.len() == 34 {
            return Err("sim_unique_name is at most 64 characters and not a Sim sid".into());
        }
    }
    Ok(Checked {
        eid,
        profile: InventoryRow {
            row,
            iccid: r.iccid,
            imsi: r.imsi,
            ki: key("Ki", &r.ki)?,
            opc: key("OPc", &r.opc)?,
            spn,
        },
        sim_unique_name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EID: &str = "89049032123451234512345678901235";
    const KEY: &str = "000102030405060708090A0B0C0D0E0F";

    fn iccid(n: u32) -> String {
        let p = format!("890010100000000{n:04}");
        format!("{p}{}", luhn_check_digit(&p))
    }

    #[test]
    fn csv_and_json_rows_parse_alike() {
        let csv = format!(
            "eid,iccid,imsi,ki,opc,spn\n{EID},{},001010000000001,{KEY},{KEY},Op\n",
            iccid(1)
        );
        let json = format!(
            r#"[{{"eid":"{EID}","iccid":"{}","imsi":"001010000000001","ki":"{KEY}","opc":"{KEY}","spn":"Op"}}]"#,
            iccid(1)
        );
        let a = parse(csv.as_bytes()).unwrap();
        assert_eq!(a, parse(json.as_bytes()).unwrap());
        assert_eq!(a[0].spn.as_deref(), Some("Op"));
        assert_eq!(a[0].ki[15], 0x0F);
    }

    #[test]
    fn every_bad_row_is_named_with_its_reason() {
        let bad_eid = "89049032123451234512345678901234";
        let bad_iccid = format!("{}0", &iccid(2)[..19]);
        let text = format!(
            "eid,iccid,imsi,ki,opc\n\
             {EID},{},001010000000001,{KEY},{KEY}\n\
             {bad_eid},{},001010000000002,{KEY},{KEY}\n\
             {EID},{bad_iccid},001010000000003,{KEY},{KEY}\n\
             {EID},{},12345,{KEY},{KEY}\n\
             {EID},{},001010000000005,00,{KEY}\n\
             {EID},{},001010000000001,{KEY},{KEY}\n",
            iccid(1),
            iccid(3),
            iccid(4),
            iccid(5),
            iccid(1),
        );
        let r = parse(text.as_bytes()).unwrap_err();
        let rows: Vec<usize> = r.problems.iter().map(|p| p.0).collect();
        assert_eq!(rows, [2, 3, 4, 5, 6, 6], "{r}");
        let text = r.to_string();
        for want in ["check digits", "Luhn", "IMSI", "Ki", "repeats row 1"] {
            assert!(text.contains(want), "{want}: {text}");
        }
        for bad in [
            &b""[..],
            b"eid,iccid\n",
            b"[{\"eid\": 1}]",
            b"\xff\xfe",
            b"[1,",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
