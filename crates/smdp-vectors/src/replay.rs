//! `smdp replay`: a recorded session against the current code, one side at a time. The
//! SM-DP+ side gets the LPA's requests as recorded and must answer the recorded responses,
//! status, headers and bodies, byte for byte; the eUICC side gets the recorded ES10b
//! commands (made from the server's responses) and must answer the recorded R-APDUs.

use anyhow::{Context, Result};
use lpa::record::{Event, Recording};
use serde_json::Value;

use crate::params::Params;
use crate::rig::{self, Rig, VCard};

/// What a replay compared, and every difference it found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub compared: usize,
    pub diffs: Vec<String>,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.diffs.is_empty()
    }
}

/// The function names the LPA uses, as `'static` (what the client and card APIs take).
pub(crate) fn function(name: &str) -> &'static str {
    const NAMES: &[&str] = &[
        "initiateAuthentication",
        "authenticateClient",
        "getBoundProfilePackage",
        "handleNotification",
        "cancelSession",
        "GetEID",
        "GetEuiccChallenge",
        "GetEUICCInfo1",
        "GetEUICCInfo2",
        "GetEuiccConfiguredAddresses",
        "AuthenticateServer",
        "PrepareDownload",
        "LoadBoundProfilePackage",
        "CancelSession",
        "ListNotification",
        "RetrieveNotificationsList",
        "RemoveNotificationFromList",
    ];
    NAMES
        .iter()
        .find(|n| **n == name)
        .copied()
        .unwrap_or("ES10")
}

fn is(e: &Value, interface: &str) -> bool {
    e["interface"] == interface
}

/// An ES9+ request of a recorded event, sent again.
pub(crate) async fn send_es9(rig: &Rig, client: &lpa::es9::Client, e: &Value) -> Result<()> {
    let path = e["request"]["path"]
        .as_str()
        .context("an ES9+ event without path")?;
    let body = e["request"]["body"]["text"]
        .as_str()
        .context("an ES9+ event without a request body")?;
    client
        .post(
            function(e["function"].as_str().unwrap_or_default()),
            &rig.address,
            path,
            body.as_bytes().to_vec(),
        )
        .await?;
    Ok(())
}

/// An ES10 command of a recorded event, sent again.
pub(crate) fn send_es10(card: &mut VCard, e: &Value) -> Result<Vec<u8>> {
    let der = hex::decode(e["command"]["hex"].as_str().unwrap_or_default())
        .context("an ES10 event whose command is not hex")?;
    Ok(card.command(function(e["function"].as_str().unwrap_or_default()), &der)?)
}

/// The recorded JSON of one new event, for comparing with the file's.
fn event_json(e: Event) -> Value {
    lpa::record::to_json(&[e])["events"][0].clone()
}

fn compare(i: usize, recorded: &Value, now: &Value, fields: &[&str], out: &mut Outcome) {
    out.compared += 1;
    for f in fields {
        if recorded[f] != now[f] {
            out.diffs.push(format!(
                "event {i} ({} {}): {f} differs\n  recorded: {}\n  now:      {}",
                recorded["interface"].as_str().unwrap_or_default(),
                recorded["function"].as_str().unwrap_or_default(),
                recorded[f],
                now[f]
            ));
        }
    }
}

/// The SM-DP+ side: a fresh server of the session's parameters gets every recorded ES9+
/// request.
pub async fn server(doc: &Value) -> Result<Outcome> {
    let events = crate::session::events_of(doc)?;
    let p = Params::from_json(&doc["parameters"])?;
    let rig = Rig::start(&p).await?;
    let out = server_on(&rig, events).await;
    rig.stop().await;
    out
}

async fn server_on(rig: &Rig, events: &[Value]) -> Result<Outcome> {
    let mut out = Outcome::default();
    for (i, e) in events.iter().enumerate().filter(|(_, e)| is(e, "es9")) {
        let rec = Recording::default();
        let client = rig.client()?.record(rec.clone());
        send_es9(rig, &client, e).await?;
        let now = rec
            .events()
            .pop()
            .map(event_json)
            .context("the exchange was not recorded")?;
        compare(i, e, &now, &["request", "response"], &mut out);
    }
    Ok(out)
}

/// The eUICC side: a fresh card of the session's parameters gets every recorded ES10
/// command, and must answer with the recorded APDUs.
pub fn euicc(doc: &Value) -> Result<Outcome> {
    let events = crate::session::events_of(doc)?;
    let p = Params::from_json(&doc["parameters"])?;
    let dir = rig::PkiDir::new(&p.pki)?;
    let pki = rsp_auth::pki::Pki::load(&dir.path)?;
    let mut card = rig::card(&pki, &p)?;
    let mut out = Outcome::default();
    for (i, e) in events.iter().enumerate().filter(|(_, e)| is(e, "es10")) {
        let rec = Recording::default();
        card.record(rec.clone());
        send_es10(&mut card, e)
            .with_context(|| format!("event {i}: the card refused a recorded command"))?;
        let now = rec
            .events()
            .into_iter()
            .rev()
            .find(|e| matches!(e, Event::Es10(_)))
            .map(event_json)
            .context("the command was not recorded")?;
        compare(i, e, &now, &["command", "response", "apdus"], &mut out);
    }
    Ok(out)
}

/// Sends the ES9+ requests among `events[..n]` to `rig` (the state a negative vector starts
/// from).
pub(crate) async fn server_prefix(rig: &Rig, events: &[Value], n: usize) -> Result<()> {
    let client = rig.client()?;
    for e in events[..n].iter().filter(|e| is(e, "es9")) {
        send_es9(rig, &client, e).await?;
    }
    Ok(())
}

/// Sends the ES10 commands among `events[..n]` to `card`.
pub(crate) fn euicc_prefix(card: &mut VCard, events: &[Value], n: usize) -> Result<()> {
    for e in events[..n].iter().filter(|e| is(e, "es10")) {
        send_es10(card, e)?;
    }
    Ok(())
}
