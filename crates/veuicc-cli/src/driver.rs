//! lpac's stdio APDU driver protocol (`../shared/interop/lpac.md` §2.2), card side: one JSON
//! request per line (`{"type":"apdu","payload":{"func":…,"param":…}}`), one reply per line
//! (`{"type":"apdu","payload":{"ecode":…[,"data":…]}}`).
//!
//! - `connect`: a card reset (ecode 0); `disconnect`: ecode 0, state saved.
//! - `logic_channel_open` (param: the AID): opens a channel and selects the ISD-R on it, as
//!   lpac's stdio driver expects; ecode = the channel, or -1.
//! - `transmit` (param: the C-APDU): ecode 0 and `data` = R-APDU; -1 if the param is not hex.
//! - `logic_channel_close` (param: the channel): ecode 0 (or -1 for a channel not open).
//!
//! lpac writes its own output (`progress`, `lpa` lines) on the same stream: those are passed
//! to `log` so the user sees them. An `http` request (LPAC_HTTP=stdio) is answered with
//! rcode 500: this front-end is the card only (use LPAC_HTTP=curl). A line that is not a
//! request (not JSON, no `type`, an unknown `func`) gets `ecode -1` and a note in `log`: the
//! driver never stops on bad input. The state is written after every command that can change
//! it, so a killed process loses at most the command in flight.

use std::io::{BufRead, Write};

use rand_core::CryptoRng;
use serde_json::{json, Value};
use veuicc::apdu::Card;
use veuicc::state::StateFile;

/// Serves requests from `input` until it ends; replies to `output`, everything else to `log`.
pub fn serve<R: CryptoRng>(
    card: &mut Card<R>,
    state: &mut StateFile,
    input: impl BufRead,
    mut output: impl Write,
    mut log: impl Write,
) -> std::io::Result<()> {
    for line in input.lines() {
        let line = line?;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(trimmed) {
            Ok(v) => match v["type"].as_str() {
                Some("apdu") => Some(apdu(card, state, &v["payload"], &mut log)),
                Some("http") => Some(json!({"type": "http", "payload": {"rcode": 500, "rx": ""}})),
                // lpac's own output: show it, answer nothing.
                Some(_) => {
                    writeln!(log, "{trimmed}")?;
                    None
                }
                None => {
                    writeln!(log, "veuicc: a line without \"type\": {trimmed}")?;
                    Some(error())
                }
            },
            Err(e) => {
                writeln!(log, "veuicc: not JSON ({e}): {trimmed}")?;
                Some(error())
            }
        };
        if let Some(r) = reply {
            writeln!(output, "{r}")?;
            output.flush()?;
        }
    }
    if let Err(e) = state.save(&card.euicc) {
        writeln!(log, "veuicc: {e}")?;
    }
    Ok(())
}

fn error() -> Value {
    json!({"type": "apdu", "payload": {"ecode": -1}})
}

fn ecode(n: i64) -> Value {
    json!({"type": "apdu", "payload": {"ecode": n}})
}

fn apdu<R: CryptoRng>(
    card: &mut Card<R>,
    state: &mut StateFile,
    payload: &Value,
    log: &mut impl Write,
) -> Value {
    let param = payload["param"].as_str().map(hex::decode);
    let mut save = |card: &Card<R>, log: &mut dyn Write| {
        if let Err(e) = state.save(&card.euicc) {
            let _ = writeln!(log, "veuicc: {e}");
        }
    };
    match (payload["func"].as_str(), param) {
        (Some("connect"), _) => {
            card.reset();
            ecode(0)
        }
        (Some("disconnect"), _) => {
            save(card, log);
            card.reset();
            ecode(0)
        }
        (Some("logic_channel_open"), Some(Ok(aid))) => match card.open_logical_channel(&aid) {
            Ok(ch) => ecode(i64::from(ch)),
            Err(sw) => {
                let _ = writeln!(log, "veuicc: logic_channel_open: SW {sw:04X}");
                error()
            }
        },
        (Some("logic_channel_close"), Some(Ok(ch))) if ch.len() == 1 => {
            save(card, log);
            match card.close_logical_channel(ch[0]) {
                Ok(()) => ecode(0),
                Err(_) => error(),
            }
        }
        (Some("transmit"), Some(Ok(c))) => {
            let r = card.transmit(&c);
            // Every ES10 function answers data (61xx), and only a completed one changes the
            // card: intermediate blocks and BPP segments before the last answer 9000.
            if c.get(1) == Some(&0xE2) && r.first() == Some(&0x61) {
                save(card, log);
            }
            json!({"type": "apdu", "payload": {"ecode": 0, "data": hex::encode_upper(r)}})
        }
        (func, _) => {
            let _ = writeln!(log, "veuicc: bad request {payload}");
            let _ = func;
            error()
        }
    }
}
