//! `veuicc`: a virtual eUICC kept in a state file, spoken to in APDUs. `new` makes a card;
//! `lpac-stdio` serves lpac's stdio APDU driver on standard input/output
//! (`LPAC_APDU=stdio`); `tcp` serves the same protocol on a loopback socket for other
//! harnesses; `show` lists what the card holds.

use std::io::BufReader;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rsp_asn1::ids::Eid;
use rsp_auth::{Backend, Curve};
use veuicc::apdu::Card;
use veuicc::state::StateFile;
use veuicc::{Euicc, EuiccParts};

#[derive(Parser)]
#[command(
    name = "veuicc",
    version,
    about = "A virtual SGP.22 eUICC in a state file"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a card: the PKI's eUICC, or with `--eid` a new CERT.EUICC for that EID under the
    /// PKI's EUM (which must permit its prefix). It trusts every CI of the PKI folder.
    New {
        /// PKI folder in the SGP.26 layout (ours, or `../shared/pki/sgp26`).
        #[arg(long, default_value = "certs")]
        pki: PathBuf,
        /// nist or brp.
        #[arg(long, default_value = "nist")]
        curve: String,
        #[arg(long)]
        eid: Option<String>,
        /// The default SM-DP+ address (what `lpac profile download` uses without `-s`).
        #[arg(long)]
        default_dp: Option<String>,
        /// The state file to create (not overwritten).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
        /// An SGP.32 v1.2 IoT eUICC: EUICCInfo2 with ipaMode and iotSpecificInfo, one CI
        /// (`lpa` then presents a minimal IoT device: a TAC, no capabilities, no IMEI).
        #[arg(long)]
        sgp32: bool,
    },
    /// Serve lpac's stdio APDU driver protocol on standard input and output.
    LpacStdio {
        #[arg(long)]
        state: PathBuf,
    },
    /// Serve the same protocol on a TCP socket, one connection at a time.
    Tcp {
        #[arg(long)]
        state: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7777")]
        listen: String,
    },
    /// Make the card misbehave on purpose (for testing an SM-DP+ against it), or `--clear`.
    /// Codes are SGP.22's integers: AuthenticateErrorCode (2 invalidSignature, 6
    /// euiccChallengeMismatch, 127 undefinedError), bppCommandId/errorReason (e.g. 5/12
    /// loadProfileElements / installFailedDueToPEProcessingError).
    Fault {
        #[arg(long)]
        state: PathBuf,
        /// AuthenticateServer answers this error code.
        #[arg(long)]
        refuse_authenticate_server: Option<i64>,
        /// LoadBoundProfilePackage ends at once with this signed errorResult: CMD/REASON.
        #[arg(long)]
        install_error: Option<String>,
        /// Every signature the card makes is corrupt.
        #[arg(long)]
        corrupt_signatures: bool,
        /// Report and enforce this much free profile memory (bytes).
        #[arg(long)]
        free_memory: Option<usize>,
        /// Remove every fault.
        #[arg(long)]
        clear: bool,
    },
    /// List the card's EID, profiles and pending notifications.
    Show {
        #[arg(long)]
        state: PathBuf,
    },
}

fn curve(s: &str) -> Result<Curve> {
    Ok(match s {
        "nist" => Curve::NistP256,
        "brp" => Curve::BrainpoolP256r1,
        other => bail!("curve {other:?}: expected nist or brp"),
    })
}

fn load(state: &std::path::Path) -> Result<(StateFile, Card<rsp_auth::rng::Rng>)> {
    let (file, euicc) = StateFile::load(state, Backend::AwsLc, SystemTime::now())?;
    Ok((file, Card::new(euicc, rsp_auth::rng::rng(None))))
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::New {
            pki,
            curve: c,
            eid,
            default_dp,
            out,
            seed,
            sgp32,
        } => {
            let curve = curve(&c)?;
            let pki = rsp_auth::pki::Pki::load(&pki)
                .with_context(|| format!("loading the PKI {}", pki.display()))?;
            let now = SystemTime::now();
            let mut card = match eid {
                None => Euicc::from_pki(&pki, curve, Backend::AwsLc, now)?,
                Some(e) => {
                    let eid = Eid::parse(&e).with_context(|| format!("EID {e:?}"))?;
                    let c = pki
                        .by_curve(curve)
                        .with_context(|| format!("the PKI has no {curve} CI"))?;
                    let issued = c.issue_euicc(&eid, &mut rsp_auth::rng::rng(seed))?;
                    Euicc::from_parts(
                        EuiccParts {
                            euicc_cert: issued.cert,
                            eum_cert: c.eum.clone().context("the PKI has no EUM certificate")?,
                            sk_euicc: issued.key,
                            trust_store: pki.trust_store(now)?,
                        },
                        Backend::AwsLc,
                    )?
                }
            };
            card.set_default_dp_address(default_dp);
            if sgp32 {
                card.make_sgp32();
            }
            StateFile::create(&out, &card)?;
            println!("eid:   {}", card.eid());
            println!("state: {}", out.display());
        }
        Command::LpacStdio { state } => {
            let (mut file, mut card) = load(&state)?;
            let stdin = std::io::stdin().lock();
            veuicc_cli::driver::serve(
                &mut card,
                &mut file,
                stdin,
                std::io::stdout().lock(),
                std::io::stderr(),
            )?;
        }
        Command::Tcp { state, listen } => {
            let (mut file, mut card) = load(&state)?;
            let listener =
                TcpListener::bind(&listen).with_context(|| format!("listening on {listen}"))?;
            eprintln!("veuicc: {} on {}", card.euicc.eid(), listener.local_addr()?);
            for conn in listener.incoming() {
                let conn = match conn {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("veuicc: accept: {e}");
                        continue;
                    }
                };
                card.reset();
                let reader = BufReader::new(conn.try_clone()?);
                if let Err(e) = veuicc_cli::driver::serve(
                    &mut card,
                    &mut file,
                    reader,
                    &conn,
                    std::io::stderr(),
                ) {
                    eprintln!("veuicc: connection: {e}");
                }
            }
        }
        Command::Fault {
            state,
            refuse_authenticate_server,
            install_error,
            corrupt_signatures,
            free_memory,
            clear,
        } => {
            let (mut file, mut card) = load(&state)?;
            let mut f = if clear {
                veuicc::CardFaults::default()
            } else {
                card.euicc.faults().clone()
            };
            if let Some(c) = refuse_authenticate_server {
                f.refuse_authenticate_server = Some(c);
            }
            if let Some(e) = install_error {
                let (c, r) = e
                    .split_once('/')
                    .and_then(|(c, r)| Some((c.parse().ok()?, r.parse().ok()?)))
                    .context("--install-error is CMD/REASON, e.g. 5/12")?;
                f.install_error = Some((c, r));
            }
            f.corrupt_signatures |= corrupt_signatures;
            if free_memory.is_some() {
                f.free_memory = free_memory;
            }
            card.euicc.set_faults(f.clone());
            file.save(&card.euicc)?;
            println!("{f:?}");
        }
        Command::Show { state } => {
            let (_, card) = load(&state)?;
            println!("eid: {}", card.euicc.eid());
            if card.euicc.is_sgp32() {
                println!("kind: SGP.32 IoT eUICC");
            }
            if *card.euicc.faults() != veuicc::CardFaults::default() {
                println!("faults: {:?}", card.euicc.faults());
            }
            if let Some(a) = card.euicc.default_dp_address() {
                println!("default SM-DP+: {a}");
            }
            for p in card.euicc.installed_profiles() {
                // SGP.32 profile metadata flags, when the SM-DP+ set them.
                let flag = |name: &str, v: Option<bool>| {
                    v.map(|v| format!("  {name} {v}")).unwrap_or_default()
                };
                println!(
                    "profile {}  {:?}  {:?}  from {}{}{}",
                    p.header.iccid_digits(),
                    p.state,
                    p.metadata.service_provider_name,
                    p.smdp_address,
                    flag("ecallIndication", p.metadata.ecall_indication),
                    flag("fallbackAllowed", p.metadata.fallback_allowed),
                );
            }
            for n in card.euicc.list_notifications() {
                let op = rsp_asn1::bits::notification_event::names(&n.profile_management_operation);
                println!(
                    "notification {}  {op}  to {}",
                    n.seq_number, n.notification_address
                );
            }
        }
    }
    Ok(())
}
