//! `lpa`: an SGP.22 LPA for test harnesses. The card is a `veuicc` state file (driven in this
//! process) or a `veuicc tcp` server; the SM-DP+ is reached over HTTPS with its certificate
//! verified against the CIs. `--json` prints one JSON object per result for scripts.

/// mimalloc: the load generator allocates and frees buffers the size of a profile for every
/// call; measured with `lpa load` (5,000 sessions, C=64), glibc malloc was 8-9 % of its CPU
/// and mimalloc takes its CPU per session from 1.40 to 1.19-1.26 ms. Not in the server: its
/// blocking pool's many threads each keep a mimalloc heap (peak RSS 58 MiB -> 1.8 GiB).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod load_cmd;

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use lpa::card::{Es10, TcpCard, Transport, VirtualCard};
use lpa::download::{Order, Step};
use lpa::es9::{Client, Trust};
use rsp_asn1::es10::ProfileIdentifier;
use rsp_asn1::ids::Iccid;
use serde_json::json;
use veuicc::apdu::Card;
use veuicc::state::StateFile;

#[derive(Parser)]
#[command(
    name = "lpa",
    version,
    about = "An SGP.22 LPA: downloads, notifications, profiles"
)]
struct Cli {
    /// The card: a veuicc state file, driven in this process.
    #[arg(long, global = true, conflicts_with = "tcp")]
    state: Option<PathBuf>,
    /// The card: a `veuicc tcp` server (host:port).
    #[arg(long, global = true)]
    tcp: Option<String>,
    /// CA certificate(s) the SM-DP+'s TLS certificate must chain to (DER or PEM); default:
    /// every CI in ./certs/CertificateIssuer.
    #[arg(long = "ca", global = true)]
    ca: Vec<PathBuf>,
    /// Do not verify the SM-DP+'s TLS certificate (what lpac does).
    #[arg(long, global = true)]
    insecure: bool,
    /// STORE DATA segment size (6..255).
    #[arg(long, global = true, default_value_t = 120)]
    mss: usize,
    /// One JSON object per result on standard output.
    #[arg(long, global = true)]
    json: bool,
    /// How ES9+ travels: `json` (SGP.22 v2) or `asn1` (the ASN.1 binding of SGP.22 v3 and
    /// SGP.32, `POST /gsma/rsp2/asn1`).
    #[arg(long, global = true, default_value = "json")]
    binding: lpa::es9::Binding,
    /// The device in ctxParams1: `phone` (TAC and LTE/5G releases), `iot` (an SGP.32 device:
    /// a TAC only, no capabilities, no IMEI), or `auto`: iot when the card's EUICCInfo2
    /// carries SGP.32's iotSpecificInfo.
    #[arg(long, global = true, default_value = "auto", value_parser = ["auto", "phone", "iot"])]
    device: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// EID, EUICCInfo2 summary, configured addresses.
    Info,
    /// The installed profiles.
    Profiles,
    /// Download a profile: from an activation code, or (`--default`) from the card's default
    /// SM-DP+ by EID, or (`--smdp`) from a given one by EID.
    Download {
        /// `LPA:1$address$matching-id`.
        activation_code: Option<String>,
        #[arg(long)]
        default: bool,
        #[arg(long)]
        smdp: Option<String>,
        #[arg(long)]
        confirmation_code: Option<String>,
        /// Then send the pending notifications (and remove the delivered ones).
        #[arg(long)]
        notify: bool,
        /// Write the session to this file as JSON: every ES9+ exchange (headers and bodies
        /// as sent and received) and every ES10 command (TLV, answer, APDUs), in order.
        #[arg(long)]
        record: Option<std::path::PathBuf>,
    },
    /// List the pending notifications; `--process` sends them, `--remove` removes each one
    /// the SM-DP+ took.
    Notifications {
        #[arg(long)]
        process: bool,
        #[arg(long, requires = "process")]
        remove: bool,
    },
    /// Enable a profile (by ICCID).
    Enable { iccid: String },
    /// Disable a profile.
    Disable { iccid: String },
    /// Delete a (disabled) profile.
    Delete { iccid: String },
    /// SM-DS event discovery (ES11): not implemented yet.
    Discovery,
    /// Load: reserve N orders, then run N complete downloads (fresh virtual eUICCs, C at
    /// once) against an SM-DP+ on loopback; sessions/s, errors, latency percentiles, the
    /// server's CPU per session and peak RSS.
    Load(Box<load_cmd::LoadArgs>),
}

/// Either card.
enum AnyCard {
    Virtual(Box<VirtualCard<rsp_auth::rng::Rng>>),
    Tcp(TcpCard),
}

impl Transport for AnyCard {
    fn open_channel(&mut self, aid: &[u8]) -> Result<u8, lpa::Error> {
        match self {
            Self::Virtual(c) => c.open_channel(aid),
            Self::Tcp(c) => c.open_channel(aid),
        }
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, lpa::Error> {
        match self {
            Self::Virtual(c) => c.transmit(apdu),
            Self::Tcp(c) => c.transmit(apdu),
        }
    }
    fn close_channel(&mut self, ch: u8) -> Result<(), lpa::Error> {
        match self {
            Self::Virtual(c) => c.close_channel(ch),
            Self::Tcp(c) => c.close_channel(ch),
        }
    }
    fn session_secret(&self) -> Option<(rsp_asn1::ids::Eid, [u8; 32])> {
        match self {
            Self::Virtual(c) => c.session_secret(),
            Self::Tcp(c) => c.session_secret(),
        }
    }
}

fn open_card(cli: &Cli) -> Result<Es10<AnyCard>> {
    let t = match (&cli.state, &cli.tcp) {
        (Some(path), _) => {
            let (file, euicc) = StateFile::load(path, rsp_auth::Backend::AwsLc, SystemTime::now())?;
            AnyCard::Virtual(Box::new(VirtualCard {
                card: Card::new(euicc, rsp_auth::rng::rng(None)),
                state: Some(file),
            }))
        }
        (None, Some(addr)) => AnyCard::Tcp(TcpCard::connect(addr)?),
        (None, None) => bail!("no card: give --state FILE or --tcp HOST:PORT"),
    };
    let mut es10 = Es10::open(t)?;
    es10.mss = cli.mss;
    let iot = match cli.device.as_str() {
        "iot" => true,
        "phone" => false,
        _ => es10.info2()?.iot_specific_info.is_some(),
    };
    if iot {
        es10.device_info = veuicc::lpa::iot_device_info();
    }
    Ok(es10)
}

fn read_cert(path: &std::path::Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.starts_with(b"-----") {
        use rustls::pki_types::pem::PemObject as _;
        let c = rustls::pki_types::CertificateDer::from_pem_slice(&bytes)
            .with_context(|| format!("{}: no PEM certificate", path.display()))?;
        return Ok(c.to_vec());
    }
    Ok(bytes)
}

fn es9(cli: &Cli) -> Result<Client> {
    Ok(trusting_client(cli)?.binding(cli.binding))
}

fn trusting_client(cli: &Cli) -> Result<Client> {
    if cli.insecure {
        return Ok(Client::new(Trust::Insecure)?);
    }
    let mut roots = Vec::new();
    for p in &cli.ca {
        roots.push(read_cert(p)?);
    }
    if cli.ca.is_empty() {
        let dir = PathBuf::from("certs/CertificateIssuer");
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "der") {
                roots.push(std::fs::read(e.path())?);
            }
        }
        if roots.is_empty() {
            bail!("no CA to verify the SM-DP+ with: give --ca FILE (or --insecure)");
        }
    }
    Ok(Client::new(Trust::Roots(roots))?)
}

fn iccid(s: &str) -> Result<ProfileIdentifier> {
    Ok(ProfileIdentifier::Iccid(
        Iccid::from_digits(s).with_context(|| format!("ICCID {s:?}"))?,
    ))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Load(args) = &cli.command {
        let outcome = match es9(&cli) {
            Ok(client) => load_cmd::run(args, client, cli.json, cli.mss).await,
            Err(e) => Err(e),
        };
        return match outcome {
            Ok(true) => std::process::ExitCode::SUCCESS,
            Ok(false) => std::process::ExitCode::FAILURE,
            Err(e) => {
                eprintln!("lpa load: {e:#}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    match run(&cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            if cli.json {
                println!("{}", json!({"ok": false, "error": format!("{e:#}")}));
            } else {
                eprintln!("lpa: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<()> {
    let out = |human: String, machine: serde_json::Value| {
        if cli.json {
            println!("{machine}");
        } else {
            println!("{human}");
        }
    };
    let mut card = open_card(cli)?;
    match &cli.command {
        Command::Info => {
            let eid = card.eid()?;
            let info2 = card.info2()?;
            let addr = card.configured_addresses()?;
            let svn = info2.svn.as_bytes();
            out(
                format!(
                    "eid:           {eid}\nsvn:           {}.{}.{}\ndefault SM-DP+: {}\nroot SM-DS:    {}\nfree memory:   {}",
                    svn[0], svn[1], svn[2],
                    addr.default_dp_address.as_deref().unwrap_or("-"),
                    addr.root_ds_address,
                    free_memory(&info2.ext_card_resource).map_or("-".into(), |n| format!("{n} bytes"))
                ),
                json!({"ok": true, "eid": eid.to_string(),
                       "svn": format!("{}.{}.{}", svn[0], svn[1], svn[2]),
                       "default_smdp": addr.default_dp_address, "root_smds": addr.root_ds_address,
                       "free_memory": free_memory(&info2.ext_card_resource)}),
            );
        }
        Command::Profiles => {
            for p in card.profiles()? {
                let iccid = p
                    .iccid
                    .as_ref()
                    .and_then(|i| i.digits().ok())
                    .unwrap_or_default();
                let state = match p.profile_state {
                    Some(rsp_asn1::es10::ProfileState::enabled) => "enabled",
                    _ => "disabled",
                };
                let spn = p.service_provider_name.clone().unwrap_or_default();
                let name = p.profile_name.clone().unwrap_or_default();
                out(
                    format!("{iccid}  {state:8}  {spn}  {name}"),
                    json!({"iccid": iccid, "state": state, "service_provider_name": spn,
                           "profile_name": name, "nickname": p.profile_nickname}),
                );
            }
        }
        Command::Download {
            activation_code,
            default,
            smdp,
            confirmation_code,
            notify,
            record,
        } => {
            let mut order = match (activation_code, default, smdp) {
                (Some(ac), false, None) => Order::from_activation_code(ac)?,
                (None, true, None) => Order {
                    address: card
                        .configured_addresses()?
                        .default_dp_address
                        .context("the card has no default SM-DP+ address")?,
                    ..Order::default()
                },
                (None, false, Some(a)) => Order {
                    address: a.clone(),
                    ..Order::default()
                },
                _ => bail!("give one of: an activation code, --default, --smdp ADDRESS"),
            };
            order.confirmation_code = confirmation_code.clone();
            let recording = lpa::record::Recording::default();
            let mut client = es9(cli)?;
            if record.is_some() {
                card.record(recording.clone());
                client = client.record(recording.clone());
            }
            let json_mode = cli.json;
            let installed = lpa::download::download(&mut card, &client, &order, |s| {
                if !json_mode {
                    match s {
                        Step::Metadata {
                            iccid,
                            service_provider_name,
                            profile_name,
                        } => eprintln!(
                            "lpa: profile {iccid} ({service_provider_name}: {profile_name})"
                        ),
                        Step::Install { bytes } => eprintln!("lpa: installing {bytes} bytes"),
                        other => eprintln!("lpa: {other:?}"),
                    }
                }
            })
            .await?;
            let iccid = installed.iccid.clone().unwrap_or_default();
            out(
                format!("installed {iccid} (notification {})", installed.seq_number),
                json!({"ok": true, "iccid": iccid, "seq_number": installed.seq_number,
                       "transaction_id": installed.transaction_id.to_hex()}),
            );
            if *notify {
                for s in lpa::notifications::process(&mut card, &client, true).await? {
                    report_sent(cli, &s);
                }
            }
            if let Some(path) = record {
                let mut v = lpa::record::to_json(&recording.events());
                v["order"] = json!({"smdp_address": order.address,
                    "matching_id": order.matching_id, "iccid": iccid,
                    "transaction_id": installed.transaction_id.to_hex()});
                std::fs::write(path, serde_json::to_vec_pretty(&v)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Command::Notifications { process, remove } => {
            if *process {
                let client = es9(cli)?;
                let sent = lpa::notifications::process(&mut card, &client, *remove).await?;
                let failed = sent.iter().filter(|s| s.outcome.is_err()).count();
                for s in &sent {
                    report_sent(cli, s);
                }
                card.close()?;
                if failed > 0 {
                    bail!("{failed} of {} notifications not delivered", sent.len());
                }
                return Ok(());
            }
            for m in card.list_notifications()? {
                let iccid = m.iccid.as_ref().and_then(|i| i.digits().ok());
                out(
                    format!(
                        "{}  {:8}  {}  {}",
                        m.seq_number,
                        lpa::notifications::operation(&m),
                        m.notification_address,
                        iccid.clone().unwrap_or_default()
                    ),
                    json!({"seq_number": m.seq_number, "operation": lpa::notifications::operation(&m),
                           "address": m.notification_address, "iccid": iccid}),
                );
            }
        }
        Command::Enable { iccid: i } => {
            card.enable(iccid(i)?)?;
            out(format!("enabled {i}"), json!({"ok": true, "enabled": i}));
        }
        Command::Disable { iccid: i } => {
            card.disable(iccid(i)?)?;
            out(format!("disabled {i}"), json!({"ok": true, "disabled": i}));
        }
        Command::Delete { iccid: i } => {
            card.delete(iccid(i)?)?;
            out(format!("deleted {i}"), json!({"ok": true, "deleted": i}));
        }
        Command::Discovery => bail!("SM-DS discovery (ES11) is not implemented yet"),
        Command::Load(_) => unreachable!("handled before a card is opened"),
    }
    card.close()?;
    Ok(())
}

/// Free non-volatile memory from extCardResource (ETSI TS 102 226 8.2.1.3.2: tag 82).
fn free_memory(ext: &[u8]) -> Option<u64> {
    let mut rest = ext;
    while let Ok((t, r)) = rsp_asn1::tlv::Tlv::read(rest, 0) {
        if t.tag == [0x82] && t.value.len() <= 8 {
            return Some(t.value.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)));
        }
        rest = r;
    }
    None
}

fn report_sent(cli: &Cli, s: &lpa::notifications::Sent) {
    let ok = s.outcome.is_ok();
    if cli.json {
        println!(
            "{}",
            json!({"seq_number": s.seq_number, "operation": s.operation, "address": s.address,
                   "iccid": s.iccid, "sent": ok, "error": s.outcome.as_ref().err()})
        );
    } else {
        match &s.outcome {
            Ok(()) => println!(
                "notification {} {} sent to {}",
                s.seq_number, s.operation, s.address
            ),
            Err(e) => println!(
                "notification {} {} NOT sent: {e}",
                s.seq_number, s.operation
            ),
        }
    }
}
