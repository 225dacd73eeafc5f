//! `smdp`: the smdp-sim command line.
//!
//! The SM-DP+ server (`smdp serve`) lands with the ES9+ issue; today the binary carries the
//! tools built on rsp-asn1: decoding any SGP.22 message, activation codes, EIDs.

use std::io::Read;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rsp_asn1::es9::base64_decode;
use rsp_asn1::ids::{ActivationCode, Eid};

#[derive(Parser)]
#[command(
    name = "smdp",
    version,
    about = "smdp-sim: a simulated GSMA SGP.22 SM-DP+"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decode an SGP.22 message (DER as hex or base64, or an ES9+ JSON body) and print it.
    Decode {
        /// The message; `-` or absent reads standard input, `@file` reads a file (raw DER,
        /// hex, base64 or JSON).
        input: Option<String>,
        /// Decode as this type instead of guessing from the tag (e.g. `EUICCInfo1`).
        #[arg(long = "type")]
        type_name: Option<String>,
        /// List the known type names.
        #[arg(long)]
        list_types: bool,
    },
    /// Parse an activation code (`LPA:1$address$matching-id[...]`) and print its fields.
    Ac {
        /// The code, with or without `LPA:`.
        code: String,
    },
    /// Check an EID's check digits, or complete 30 digits with them.
    Eid {
        /// 32 digits to check, or 30 digits to complete.
        eid: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Decode {
            input,
            type_name,
            list_types,
        } => {
            if list_types {
                for n in rsp_asn1::inspect::type_names() {
                    println!("{n}");
                }
                return Ok(());
            }
            decode(&read_input(input.as_deref())?, type_name.as_deref())
        }
        Command::Ac { code } => {
            let ac = ActivationCode::parse(code.trim())?;
            println!("smdp_address:  {}", ac.smdp_address);
            println!("matching_id:   {}", ac.matching_id);
            println!("smdp_oid:      {}", ac.smdp_oid.as_deref().unwrap_or("-"));
            let cc = match ac.confirmation_code_required {
                Some(true) => "required",
                Some(false) => "not required",
                None => "-",
            };
            println!("conf. code:    {cc}");
            println!("qr text:       {}", ac.to_qr_text());
            Ok(())
        }
        Command::Eid { eid } => {
            let eid = eid.trim();
            if eid.len() == 30 {
                println!("{}", Eid::with_check_digits(eid)?);
            } else {
                let parsed = Eid::parse_unchecked(eid)?;
                if !parsed.check_digits_ok() {
                    let fixed = Eid::with_check_digits(eid)?;
                    bail!("{eid}: wrong check digits (expected {fixed})");
                }
                println!("{eid}: check digits ok");
            }
            Ok(())
        }
    }
}

fn read_input(arg: Option<&str>) -> Result<Vec<u8>> {
    match arg {
        None | Some("-") => {
            let mut v = Vec::new();
            std::io::stdin().read_to_end(&mut v)?;
            Ok(v)
        }
        Some(a) if a.starts_with('@') => {
            std::fs::read(&a[1..]).with_context(|| format!("reading {}", &a[1..]))
        }
        Some(a) => Ok(a.as_bytes().to_vec()),
    }
}

/// Decodes raw DER, hex, base64, or every base64 field of an ES9+ JSON body.
fn decode(input: &[u8], type_name: Option<&str>) -> Result<()> {
    let text = std::str::from_utf8(input).map(str::trim);
    if let Ok(t) = text {
        if t.starts_with('{') {
            let body: serde_json::Value = serde_json::from_str(t).context("not valid JSON")?;
            let obj = body.as_object().context("JSON body is not an object")?;
            for (field, value) in obj {
                let Some(s) = value.as_str() else {
                    println!("{field}: {value}");
                    continue;
                };
                match base64_decode(s)
                    .ok()
                    .filter(|b| !b.is_empty() && b.len() > 2)
                {
                    Some(der) => match rsp_asn1::inspect::describe(&der, None) {
                        Ok((name, pretty)) => println!("{field}: {name} {pretty}"),
                        Err(_) => println!("{field}: {}", hex::encode_upper(&der)),
                    },
                    None => println!("{field}: {s}"),
                }
            }
            return Ok(());
        }
    }
    let der = match text {
        Ok(t)
            if !t.is_empty()
                && t.bytes()
                    .all(|c| c.is_ascii_hexdigit() || c.is_ascii_whitespace()) =>
        {
            let compact: String = t.split_whitespace().collect();
            hex::decode(compact).context("odd number of hex digits")?
        }
        Ok(t) if !t.is_empty() => {
            base64_decode(t).context("input is neither hex, base64, JSON nor DER")?
        }
        _ => input.to_vec(),
    };
    let (name, pretty) = rsp_asn1::inspect::describe(&der, type_name)?;
    println!("{name} {pretty}");
    Ok(())
}
