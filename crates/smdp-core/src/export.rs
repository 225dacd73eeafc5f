//! Subscriber export: the keys of issued profiles, rendered for whatever provisions the network.
//!
//! [`Subscriber`] has no `Serialize`: Ki, OPc and OP leave the process only through
//! [`render`], never by a stray `serde_json::to_string` of some struct that happens to hold one.
//!
//! Formats ([`ExportFormat`]):
//! - `csv`, `json`: every field, hex in upper case, for spreadsheets and scripts;
//! - `open5gs`: one Open5GS subscriber document per line, for
//!   `mongoimport --db open5gs --collection subscribers`;
//! - `open5gs-dbctl`: an `open5gs-dbctl add` line per subscriber, for a shell.

use std::fmt;
use std::str::FromStr;

use serde_json::{json, Value};

/// One issued profile and the keys its network must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub esim_profile_sid: String,
    pub sim_sid: Option<String>,
    pub status: String,
    pub eid: Option<String>,
    pub iccid: String,
    pub imsi: String,
    pub ki: [u8; 16],
    /// The OPc written to the card: what the network must use, whatever `op` says.
    pub opc: [u8; 16],
    /// The operator's OP, when the OPc was derived from it.
    pub op: Option<[u8; 16]>,
    pub amf: [u8; 2],
}

/// What [`render`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// `csv`: a header line, then one line per subscriber.
    Csv,
    /// `json`: one array of objects with the CSV's keys.
    Json,
    /// `open5gs`: JSON Lines of Open5GS `subscribers` documents.
    Open5gs,
    /// `open5gs-dbctl`: a shell script of `open5gs-dbctl add` commands.
    Open5gsDbctl,
}

impl ExportFormat {
    /// Every format, in the order error messages list them.
    pub const ALL: [ExportFormat; 4] = [
        ExportFormat::Csv,
        ExportFormat::Json,
        ExportFormat::Open5gs,
        ExportFormat::Open5gsDbctl,
    ];

    /// The name [`FromStr`] accepts (and a `?format=` query would carry).
    pub fn name(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Json => "json",
            ExportFormat::Open5gs => "open5gs",
            ExportFormat::Open5gsDbctl => "open5gs-dbctl",
        }
    }

    /// The HTTP `Content-Type` of the rendered text.
    pub fn content_type(self) -> &'static str {
        match self {
            // RFC 4180's type, though the lines end in `\n` (what the csv crate and most
            // tools write and all readers accept).
            ExportFormat::Csv => "text/csv",
            ExportFormat::Json => "application/json",
            // One JSON document per line is not itself one JSON value: NDJSON's type says so.
            ExportFormat::Open5gs => "application/x-ndjson",
            // A script to read and run, not to be executed by a browser.
            ExportFormat::Open5gsDbctl => "text/plain",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is none of [`ExportFormat::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown export format {0:?}: expected one of csv, json, open5gs, open5gs-dbctl")]
pub struct UnknownExportFormat(pub String);

impl FromStr for ExportFormat {
    type Err = UnknownExportFormat;

    /// Exact names only: a query string is typed by tools, and one spelling keeps links stable.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownExportFormat(s.to_string()))
    }
}

/// The columns of `csv` and the keys of `json`, in order.
pub const CSV_HEADER: [&str; 10] = [
    "esim_profile_sid",
    "sim_sid",
    "status",
    "eid",
    "iccid",
    "imsi",
    "ki",
    "opc",
    "op",
    "amf",
];

/// Renders `rows` in `format`. An empty list gives a header-only CSV, `[]`, or empty text.
pub fn render(format: ExportFormat, rows: &[Subscriber]) -> String {
    match format {
        ExportFormat::Csv => render_csv(rows),
        ExportFormat::Json => Value::Array(rows.iter().map(plain_object).collect()).to_string(),
        ExportFormat::Open5gs => rows
            .iter()
            .map(|r| open5gs_document(r).to_string() + "\n")
            .collect(),
        ExportFormat::Open5gsDbctl => rows.iter().map(dbctl_lines).collect(),
    }
}

fn upper(bytes: &[u8]) -> String {
    hex::encode_upper(bytes)
}

fn render_csv(rows: &[Subscriber]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to memory has no I/O to fail, and every record has the header's length.
    w.write_record(CSV_HEADER).expect("CSV to memory");
    for r in rows {
        let op = r.op.map(|op| upper(&op)).unwrap_or_default();
        w.write_record([
            r.esim_profile_sid.as_str(),
            r.sim_sid.as_deref().unwrap_or(""),
            r.status.as_str(),
            r.eid.as_deref().unwrap_or(""),
            r.iccid.as_str(),
            r.imsi.as_str(),
            upper(&r.ki).as_str(),
            upper(&r.opc).as_str(),
            op.as_str(),
            upper(&r.amf).as_str(),
        ])
        .expect("CSV to memory");
    }
    let bytes = w.into_inner().expect("CSV to memory");
    // Every field is a Rust `str`, so the output is UTF-8.
    String::from_utf8(bytes).expect("CSV of str fields is UTF-8")
}

fn plain_object(r: &Subscriber) -> Value {
    json!({
        "esim_profile_sid": r.esim_profile_sid,
        "sim_sid": r.sim_sid,
        "status": r.status,
        "eid": r.eid,
        "iccid": r.iccid,
        "imsi": r.imsi,
        "ki": upper(&r.ki),
        "opc": upper(&r.opc),
        "op": r.op.map(|op| upper(&op)),
        "amf": upper(&r.amf),
    })
}

/// One Open5GS `subscribers` document, as `open5gs-dbctl add` inserts it.
///
/// Shape checked against open5gs/open5gs `misc/db/open5gs-dbctl` (`add`),
/// `webui/server/models/subscriber.js` (the Mongoose schema) and `lib/dbi/subscription.c`
/// (what the HSS/UDR read), plus `lib/dbi/ogs-dbi.h` for the field names. Decisions:
/// - `security.opc` always, `security.op` as well when known (else `null`): Open5GS sets
///   `use_opc` when `opc` is a string and then uses it as is, deriving OPc from `op` only
///   without one, so the network uses exactly the card's OPc and `op` is only a record.
/// - `security.sqn` as `{"$numberLong": "0"}`: `subscription.c` reads `sqn` only when it
///   is an Int64 (and writes it back as one); mongoimport's Extended JSON makes it one.
///   Plain integers become Int32, which is what every other numeric field is read as.
/// - `mme_realm`, not dbctl's `mm_realm`: the schema and the HSS (`OGS_MME_REALM_STRING`)
///   use `mme_realm`; dbctl's spelling is a field nothing reads.
/// - Hex in upper case: Open5GS's hex parser takes either case.
/// - No `_id`s: mongoimport gives the document one, and Open5GS reads none of the
///   sub-document ids dbctl adds.
fn open5gs_document(r: &Subscriber) -> Value {
    let gbps = json!({
        "downlink": { "value": 1_000_000_000, "unit": 0 },
        "uplink": { "value": 1_000_000_000, "unit": 0 },
    });
    json!({
        "schema_version": 1,
        "imsi": r.imsi,
        "msisdn": [],
        "imeisv": [],
        "mme_host": [],
        "mme_realm": [],
        "purge_flag": [],
        "slice": [{
            "sst": 1,
            "default_indicator": true,
            "session": [{
                "name": "internet",
                // IPv4v6.
                "type": 3,
                "qos": {
                    "index": 9,
                    "arp": {
                        "priority_level": 8,
                        "pre_emption_capability": 1,
                        "pre_emption_vulnerability": 2,
                    },
                },
                "ambr": gbps.clone(),
                "pcc_rule": [],
            }],
        }],
        "security": {
            "k": upper(&r.ki),
            "op": r.op.map(|op| upper(&op)),
            "opc": upper(&r.opc),
            "amf": upper(&r.amf),
            "sqn": { "$numberLong": "0" },
        },
        "ambr": gbps,
        "access_restriction_data": 32,
        "network_access_mode": 0,
        "subscribed_rau_tau_timer": 12,
        "__v": 0,
    })
}

/// `open5gs-dbctl add <imsi> <K> <OPc>` (its `add {imsi key opc}`), after a comment when the
/// AMF is not `8000`: dbctl always stores `8000`, so such a subscriber needs a hand edit.
fn dbctl_lines(r: &Subscriber) -> String {
    let mut out = String::new();
    if r.amf != [0x80, 0x00] {
        out.push_str(&format!(
            "# AMF {} on this card: open5gs-dbctl stores 8000, so set security.amf of the subscriber added below by hand\n",
            upper(&r.amf)
        ));
    }
    out.push_str(&format!(
        "open5gs-dbctl add {} {} {}\n",
        shell_word(&r.imsi),
        upper(&r.ki),
        upper(&r.opc)
    ));
    out
}

/// `s` as one shell word: as is when plainly safe (an IMSI is digits), else single-quoted,
/// so a malformed stored value cannot turn the script into something else.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        hex::decode_to_slice(s, &mut out).unwrap();
        out
    }

    /// Keys from 3GPP TS 35.208 test sets 1 (with its OP) and 2 (OPc only, AMF not 8000).
    fn rows() -> Vec<Subscriber> {
        vec![
            Subscriber {
                esim_profile_sid: "HE00000000000000000000000000000001".into(),
                sim_sid: Some("HS00000000000000000000000000000001".into()),
                status: "installed".into(),
                eid: Some("89049032123451234512345678901235".into()),
                iccid: "89882390000000000018".into(),
                imsi: "001010000000001".into(),
                ki: h("465b5ce8b199b49faa5f0a2ee238a6bc"),
                opc: h("cd63cb71954a9f4e48a5994e37a02baf"),
                op: Some(h("cdc202d5123e20f62b6d676ac72cb318")),
                amf: [0x80, 0x00],
            },
            Subscriber {
                esim_profile_sid: "HE00000000000000000000000000000002".into(),
                sim_sid: None,
                status: "available".into(),
                eid: None,
                iccid: "89882390000000000026".into(),
                imsi: "001010000000002".into(),
                ki: h("0396eb317b6d1c36f19c1c84cd6ffd16"),
                opc: h("53c15671c60a4b731c55b4a441c0bde2"),
                op: None,
                amf: [0xb9, 0xb9],
            },
        ]
    }

    const HEADER: &str = "esim_profile_sid,sim_sid,status,eid,iccid,imsi,ki,opc,op,amf\n";

    #[test]
    fn rows_hold_consistent_keys() {
        let r = &rows()[0];
        assert_eq!(rsp_saip::milenage::opc(&r.ki, &r.op.unwrap()), r.opc);
    }

    #[test]
    fn format_names_round_trip_and_unknown_lists_valid() {
        for f in ExportFormat::ALL {
            assert_eq!(f.name().parse::<ExportFormat>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
        let err = "CSV".parse::<ExportFormat>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown export format \"CSV\": expected one of csv, json, open5gs, open5gs-dbctl"
        );
        assert!("".parse::<ExportFormat>().is_err());
        assert!("open5gs_dbctl".parse::<ExportFormat>().is_err());
    }

    #[test]
    fn content_types() {
        assert_eq!(ExportFormat::Csv.content_type(), "text/csv");
        assert_eq!(ExportFormat::Json.content_type(), "application/json");
        assert_eq!(ExportFormat::Open5gs.content_type(), "application/x-ndjson");
        assert_eq!(ExportFormat::Open5gsDbctl.content_type(), "text/plain");
    }

    #[test]
    fn csv_exact() {
        let want = format!(
            "{HEADER}\
             HE00000000000000000000000000000001,HS00000000000000000000000000000001,installed,\
             89049032123451234512345678901235,89882390000000000018,001010000000001,\
             465B5CE8B199B49FAA5F0A2EE238A6BC,CD63CB71954A9F4E48A5994E37A02BAF,\
             CDC202D5123E20F62B6D676AC72CB318,8000\n\
             HE00000000000000000000000000000002,,available,,89882390000000000026,\
             001010000000002,0396EB317B6D1C36F19C1C84CD6FFD16,\
             53C15671C60A4B731C55B4A441C0BDE2,,B9B9\n"
        );
        assert_eq!(render(ExportFormat::Csv, &rows()), want);
    }

    #[test]
    fn csv_quotes_where_needed() {
        let mut r = rows().remove(1);
        r.status = "odd, \"quoted\"".into();
        let out = render(ExportFormat::Csv, &[r]);
        assert!(
            out.contains(",\"odd, \"\"quoted\"\"\","),
            "status not quoted: {out}"
        );
    }

    fn hex_or_null(v: Option<[u8; 16]>) -> Value {
        v.map_or(Value::Null, |b| Value::String(upper(&b)))
    }

    #[test]
    fn json_every_field() {
        let rows = rows();
        let out = render(ExportFormat::Json, &rows);
        let parsed: Value = serde_json::from_str(&out).unwrap();
        let arr = parsed.as_array().unwrap();
        assert_eq!(arr.len(), rows.len());
        for (o, r) in arr.iter().zip(&rows) {
            let o = o.as_object().unwrap();
            let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
            let mut want_keys = CSV_HEADER.to_vec();
            keys.sort_unstable();
            want_keys.sort_unstable();
            assert_eq!(keys, want_keys);
            assert_eq!(o["esim_profile_sid"], r.esim_profile_sid.as_str());
            assert_eq!(o["sim_sid"], json!(r.sim_sid));
            assert_eq!(o["status"], r.status.as_str());
            assert_eq!(o["eid"], json!(r.eid));
            assert_eq!(o["iccid"], r.iccid.as_str());
            assert_eq!(o["imsi"], r.imsi.as_str());
            assert_eq!(o["ki"], upper(&r.ki).as_str());
            assert_eq!(o["opc"], upper(&r.opc).as_str());
            assert_eq!(o["op"], hex_or_null(r.op));
            assert_eq!(o["amf"], upper(&r.amf).as_str());
        }
        // Spot-check the literal values, not just the round trip.
        assert_eq!(arr[0]["ki"], "465B5CE8B199B49FAA5F0A2EE238A6BC");
        assert_eq!(arr[0]["op"], "CDC202D5123E20F62B6D676AC72CB318");
        assert_eq!(arr[1]["sim_sid"], Value::Null);
        assert_eq!(arr[1]["eid"], Value::Null);
        assert_eq!(arr[1]["op"], Value::Null);
        assert_eq!(arr[1]["amf"], "B9B9");
    }

    #[test]
    fn open5gs_every_field() {
        let rows = rows();
        let out = render(ExportFormat::Open5gs, &rows);
        assert!(out.ends_with('\n'));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), rows.len());
        let gbps = json!({
            "downlink": { "value": 1_000_000_000, "unit": 0 },
            "uplink": { "value": 1_000_000_000, "unit": 0 },
        });
        for (line, r) in lines.iter().zip(&rows) {
            let d: Value = serde_json::from_str(line).unwrap();
            let want = json!({
                "schema_version": 1,
                "imsi": r.imsi,
                "msisdn": [],
                "imeisv": [],
                "mme_host": [],
                "mme_realm": [],
                "purge_flag": [],
                "slice": [{
                    "sst": 1,
                    "default_indicator": true,
                    "session": [{
                        "name": "internet",
                        "type": 3,
                        "qos": {
                            "index": 9,
                            "arp": {
                                "priority_level": 8,
                                "pre_emption_capability": 1,
                                "pre_emption_vulnerability": 2,
                            },
                        },
                        "ambr": gbps.clone(),
                        "pcc_rule": [],
                    }],
                }],
                "security": {
                    "k": upper(&r.ki),
                    "op": hex_or_null(r.op),
                    "opc": upper(&r.opc),
                    "amf": upper(&r.amf),
                    "sqn": { "$numberLong": "0" },
                },
                "ambr": gbps.clone(),
                "access_restriction_data": 32,
                "network_access_mode": 0,
                "subscribed_rau_tau_timer": 12,
                "__v": 0,
            });
            assert_eq!(d, want);
        }
        let first: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["security"]["k"], "465B5CE8B199B49FAA5F0A2EE238A6BC");
        assert_eq!(first["security"]["opc"], "CD63CB71954A9F4E48A5994E37A02BAF");
        assert_eq!(first["security"]["op"], "CDC202D5123E20F62B6D676AC72CB318");
        let second: Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["security"]["op"], Value::Null);
        assert_eq!(second["security"]["amf"], "B9B9");
        // Int32 for mongoimport: plain integers, no fraction.
        assert!(second["ambr"]["downlink"]["value"].is_i64());
    }

    #[test]
    fn dbctl_exact() {
        let want = "open5gs-dbctl add 001010000000001 465B5CE8B199B49FAA5F0A2EE238A6BC CD63CB71954A9F4E48A5994E37A02BAF\n\
                    # AMF B9B9 on this card: open5gs-dbctl stores 8000, so set security.amf of the subscriber added below by hand\n\
                    open5gs-dbctl add 001010000000002 0396EB317B6D1C36F19C1C84CD6FFD16 53C15671C60A4B731C55B4A441C0BDE2\n";
        assert_eq!(render(ExportFormat::Open5gsDbctl, &rows()), want);
    }

    #[test]
    fn dbctl_quotes_a_malformed_imsi() {
        let mut r = rows().remove(0);
        r.imsi = "1; rm -rf / 'x'\n".into();
        let out = render(ExportFormat::Open5gsDbctl, &[r]);
        assert!(
            out.starts_with("open5gs-dbctl add '1; rm -rf / '\\''x'\\''\n' 465B"),
            "{out}"
        );
    }

    #[test]
    fn empty_lists() {
        assert_eq!(render(ExportFormat::Csv, &[]), HEADER);
        assert_eq!(render(ExportFormat::Json, &[]), "[]");
        assert_eq!(render(ExportFormat::Open5gs, &[]), "");
        assert_eq!(render(ExportFormat::Open5gsDbctl, &[]), "");
    }
}
