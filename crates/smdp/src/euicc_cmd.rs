//! `smdp euicc`: virtual eUICCs as state files. `manufacture` writes a card with a profile
//! pre-installed from a row of the same batch file `smdp profile import` reads, so a harness
//! gets a card whose installed profile matches the API's `installed` ESimProfile; `enable`,
//! `disable` and `delete` run the ES10c functions on it (queuing the signed notifications the
//! SM-DP+ records against that profile); `show` lists profiles and pending notifications.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use rsp_asn1::es10::{
    DeleteProfileRequest, DisableProfileRequest, EnableProfileRequest, ProfileIdentifier,
    ProfileOperationResult,
};
use rsp_asn1::ids::Iccid;
use rsp_auth::{Backend, Curve};
use veuicc::state::StateFile;
use veuicc::{Euicc, EuiccParts, Preinstalled};

#[derive(Subcommand)]
pub enum EuiccCommand {
    /// Write a card (state file) with the profile of one batch-file row pre-installed and
    /// enabled: the row's EID (CERT.EUICC issued under the PKI's EUM, or the PKI's own eUICC
    /// when the EIDs match), ICCID, IMSI, Ki, OPc and SPN in a generated USIM profile whose
    /// enable/disable/delete notifications go to the SM-DP+.
    Manufacture {
        /// The batch file (CSV or JSON, as `smdp profile import` reads it).
        file: PathBuf,
        /// The row (1-based, header not counted).
        #[arg(long, default_value_t = 1)]
        row: usize,
        /// PKI folder with the EUM certificate and key (SGP.26 layout).
        #[arg(long, default_value = "certs")]
        pki: PathBuf,
        /// nist or brp.
        #[arg(long, default_value = "nist")]
        curve: String,
        /// Where the profile's notifications go [default: the address `smdp serve` last
        /// served this store under, else localhost:8443].
        #[arg(long)]
        notify: Option<String>,
        #[command(flatten)]
        data: crate::StoreArgs,
        /// The state file to create (mode 0600: it holds SK.EUICC; an existing file is not
        /// overwritten).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// List a card's profiles and pending notifications.
    Show {
        #[arg(long)]
        state: PathBuf,
    },
    /// ES10c EnableProfile (the enabled profile, if any, is disabled first).
    Enable {
        #[arg(long)]
        state: PathBuf,
        /// The profile's ICCID.
        iccid: String,
    },
    /// ES10c DisableProfile.
    Disable {
        #[arg(long)]
        state: PathBuf,
        iccid: String,
    },
    /// ES10c DeleteProfile (only a disabled profile).
    Delete {
        #[arg(long)]
        state: PathBuf,
        iccid: String,
    },
}

fn load(path: &Path) -> Result<(StateFile, Euicc)> {
    Ok(StateFile::load(path, Backend::AwsLc, SystemTime::now())?)
}

fn profile_id(iccid: &str) -> Result<ProfileIdentifier> {
    Ok(ProfileIdentifier::Iccid(
        Iccid::from_digits(iccid).with_context(|| format!("ICCID {iccid:?}"))?,
    ))
}

fn outcome(what: &str, r: ProfileOperationResult) -> Result<()> {
    if r != ProfileOperationResult::ok {
        bail!("{what}: {r:?}");
    }
    println!("{what}: ok");
    Ok(())
}

pub fn run(cmd: EuiccCommand) -> Result<()> {
    match cmd {
        EuiccCommand::Manufacture {
            file,
            row,
            pki,
            curve,
            notify,
            data,
            out,
            seed,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let rows = smdp_core::import::parse(&bytes)?;
            let Some(r) = rows.iter().find(|r| r.row == row) else {
                bail!("{} has no row {row} ({} rows)", file.display(), rows.len());
            };
            let curve = match curve.as_str() {
                "nist" => Curve::NistP256,
                "brp" => Curve::BrainpoolP256r1,
                other => bail!("curve {other:?}: expected nist or brp"),
            };
            let pki = rsp_auth::pki::Pki::load(&pki)
                .with_context(|| format!("loading the PKI {}", pki.display()))?;
            let c = pki
                .by_curve(curve)
                .with_context(|| format!("the PKI has no {curve} CI"))?;
            let eum = c.eum.clone().context("the PKI has no EUM certificate")?;
            let mut rng = rsp_auth::rng::rng(seed);
            // The PKI's own eUICC when it has this EID; else a new CERT.EUICC for it.
            let issued = match &c.euicc {
                Some(e) if e.cert.subject_serial_number.as_deref() == Some(&r.eid.to_string()) => {
                    rsp_auth::generate::Issued {
                        cert: e.cert.clone(),
                        key: rsp_auth::SigningKey::from_scalar(curve, &e.key.scalar())?,
                    }
                }
                _ => c.issue_euicc(&r.eid, &mut rng)?,
            };
            let now = SystemTime::now();
            let mut card = Euicc::from_parts(
                EuiccParts {
                    euicc_cert: issued.cert,
                    eum_cert: eum,
                    sk_euicc: issued.key,
                    trust_store: pki.trust_store(now)?,
                },
                Backend::AwsLc,
            )?;
            let package = rsp_saip::generate::MinimalUsim {
                iccid: r.iccid.clone(),
                imsi: r.imsi.clone(),
                ki: r.ki,
                opc: r.opc,
                spn: r.spn.clone(),
                target_size: None,
            }
            .build()?
            .to_der();
            let address = match notify {
                Some(a) => a,
                None => data
                    .open()?
                    .meta(smdp_server::serve::ADDRESS_META)?
                    .unwrap_or_else(|| "localhost:8443".into()),
            };
            card.preinstall(Preinstalled {
                package,
                service_provider_name: r.spn.clone().unwrap_or_default(),
                profile_name: "pre-installed".into(),
                notification_address: Some(address.clone()),
                enabled: true,
            })?;
            StateFile::create(&out, &card)?;
            println!("eid:    {}", card.eid());
            println!("iccid:  {} (enabled)", r.iccid);
            println!("notify: {address}");
            println!("state:  {}", out.display());
            Ok(())
        }
        EuiccCommand::Show { state } => {
            let (_, card) = load(&state)?;
            println!("eid: {}", card.eid());
            for p in card.installed_profiles() {
                println!(
                    "profile {}  {:?}  {:?}  from {}",
                    p.header.iccid_digits(),
                    p.state,
                    p.metadata.service_provider_name.to_string(),
                    if p.smdp_address.is_empty() {
                        "-"
                    } else {
                        &p.smdp_address
                    }
                );
            }
            for n in card.list_notifications() {
                let op = rsp_asn1::bits::notification_event::names(&n.profile_management_operation);
                println!(
                    "notification {}  {op}  to {}  iccid {}",
                    n.seq_number,
                    n.notification_address,
                    n.iccid
                        .as_ref()
                        .and_then(|i| i.digits().ok())
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        EuiccCommand::Enable { state, iccid } => {
            let (mut file, mut card) = load(&state)?;
            let r = card.enable_profile(&EnableProfileRequest {
                profile_identifier: profile_id(&iccid)?,
                refresh_flag: false,
                extensions: None,
            });
            file.save(&card)?;
            outcome("EnableProfile", r.enable_result)
        }
        EuiccCommand::Disable { state, iccid } => {
            let (mut file, mut card) = load(&state)?;
            let r = card.disable_profile(&DisableProfileRequest {
                profile_identifier: profile_id(&iccid)?,
                refresh_flag: false,
                extensions: None,
            });
            file.save(&card)?;
            outcome("DisableProfile", r.disable_result)
        }
        EuiccCommand::Delete { state, iccid } => {
            let (mut file, mut card) = load(&state)?;
            let r = card.delete_profile(&DeleteProfileRequest(profile_id(&iccid)?));
            file.save(&card)?;
            outcome("DeleteProfile", r.delete_result)
        }
    }
}
