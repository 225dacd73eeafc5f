//! One seeded SM-DP+ and one seeded virtual eUICC in this process, wired as `smdp serve
//! --seed N` and `lpa` would be, with the same fixed clock on both sides: what a session is
//! recorded on, and replayed against.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lpa::card::{Es10, VirtualCard};
use lpa::es9::{Client, Trust};
use rsp_auth::pki::{GenerateOptions, Pki};
use rsp_auth::rng::{rng, Rng};
use rsp_auth::Backend;
use smdp_core::clock::Clock;
use smdp_core::order_options::OrderOptions;
use smdp_core::orders::OrderRequest;
use smdp_core::store::{OperatorStore, Profile};
use smdp_store_sqlite::SqliteStore;
use veuicc::apdu::Card;
use veuicc::Euicc;

use crate::params::{Params, PkiChoice};

/// The virtual eUICC as the LPA drives it.
pub type VCard = Es10<VirtualCard<Rng>>;

/// A PKI folder: ours is written to a temporary folder (removed on drop), so that the
/// recorder needs no checkout; the others are used where they are.
pub struct PkiDir {
    pub path: PathBuf,
    temporary: bool,
}

impl Drop for PkiDir {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl PkiDir {
    pub fn new(choice: &PkiChoice) -> Result<Self> {
        Ok(match choice {
            PkiChoice::Ours => {
                static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("smdp-vectors-pki-{}-{n}", std::process::id()));
                let _ = std::fs::remove_dir_all(&path);
                // `smdp pki generate --seed 1`: the PKI in certs/.
                Pki::generate(&GenerateOptions::default(), &mut rng(Some(1)))?.write(&path)?;
                Self {
                    path,
                    temporary: true,
                }
            }
            PkiChoice::Sgp26 => {
                let dir = rsp_shared::dir()
                    .context("--pki sgp26 reads the SGP.26 PKI from the shared folder: set RSP_SHARED_DIR")?
                    .join("pki/sgp26");
                if !dir.is_dir() {
                    bail!("{}: no SGP.26 PKI there", dir.display());
                }
                Self {
                    path: dir,
                    temporary: false,
                }
            }
            PkiChoice::Dir(d) => Self {
                path: d.clone(),
                temporary: false,
            },
        })
    }
}

/// The seeds each side draws from (see [`Params::seed`]).
pub fn card_seed(p: &Params) -> u64 {
    p.seed.wrapping_add(1)
}
fn order_seed(p: &Params) -> u64 {
    p.seed.wrapping_add(2)
}

/// The SM-DP+ address of a PKI: the first DNS name of its DPtls certificate for the session's
/// curve (ours: `localhost`; SGP.26: `testsmdpplus1.example.com`), on 443.
pub fn address(pki: &Pki, p: &Params) -> Result<String> {
    let c = pki
        .by_curve(p.curve)
        .with_context(|| format!("the PKI has no {} CI", p.curve))?;
    let tls = c
        .dp_tls
        .as_ref()
        .or_else(|| pki.curves.iter().find_map(|c| c.dp_tls.as_ref()))
        .context("the PKI has no DPtls certificate")?;
    tls.cert
        .dns_names
        .first()
        .cloned()
        .context("the DPtls certificate names no DNS host")
}

/// A running session rig.
pub struct Rig {
    pub params: Params,
    pub pki_dir: PkiDir,
    pub pki: Pki,
    /// The SM-DP+ address, as in the activation code.
    pub address: String,
    pub clock: Clock,
    pub store: Arc<SqliteStore>,
    pub running: smdp_server::serve::Running,
    /// The order the session downloads.
    pub order: Profile,
}

impl Rig {
    /// Starts the SM-DP+ on loopback (random port, reached under [`Self::address`]) and
    /// reserves the session's order, bound to the eUICC's EID.
    pub async fn start(params: &Params) -> Result<Self> {
        let pki_dir = PkiDir::new(&params.pki)?;
        let pki = Pki::load(&pki_dir.path)?;
        let address = address(&pki, params)?;
        let clock = Clock::manual(params.time as u64);
        let settings = smdp_server::serve::Settings {
            listen: Some("127.0.0.1:0".parse()?),
            rest_listen: Some("127.0.0.1:0".parse()?),
            // `:443` keeps the address as LPAs see it (smdp_address drops it), not the
            // loopback port.
            address: Some(format!("{address}:443")),
            pki: Some(pki_dir.path.clone()),
            seed: Some(params.seed),
            shed_lag_ms: Some(0),
            ..Default::default()
        };
        let cfg = smdp_server::serve::Config::from_settings(settings)?;
        let store = Arc::new(SqliteStore::in_memory()?);
        let running = smdp_server::serve::start_with(
            &cfg,
            store.clone() as Arc<dyn OperatorStore>,
            clock.clone(),
        )
        .await?;
        let euicc = new_euicc(&pki, params, &clock)?;
        let order = smdp_core::orders::reserve(
            store.as_ref(),
            &rsp_saip::NumberPlan::default(),
            rsp_shared::dir().as_deref(),
            &OrderRequest {
                eid: Some(euicc.eid()),
                generate_matching_id: true,
                confirmation_code: params.confirmation_code.clone(),
                template: params.profile.clone(),
                options: OrderOptions {
                    pre_protected: params.ppk,
                    ..Default::default()
                },
                ..Default::default()
            },
            &mut rng(Some(order_seed(params))),
            params.time,
        )?;
        Ok(Self {
            params: params.clone(),
            pki_dir,
            pki,
            address,
            clock,
            store,
            running,
            order,
        })
    }

    /// A fresh virtual eUICC of the session (the same on every call).
    pub fn card(&self) -> Result<VCard> {
        card(&self.pki, &self.params)
    }

    /// An ES9+ client that reaches this server under its address (TLS, not verified: the
    /// vectors are about ES9+, and SGP.26's DPtls certificates expire long before ours).
    pub fn client(&self) -> Result<Client> {
        Ok(Client::new(Trust::Insecure)?.resolve(&self.address, self.running.addr()))
    }

    pub fn pki_path(&self) -> &Path {
        &self.pki_dir.path
    }

    pub async fn stop(self) {
        self.running.shutdown(Duration::from_secs(1)).await;
    }
}

fn new_euicc(pki: &Pki, p: &Params, clock: &Clock) -> Result<Euicc> {
    Ok(Euicc::from_pki(
        pki,
        p.curve,
        Backend::RustCrypto,
        clock.now(),
    )?)
}

/// The session's virtual eUICC, fresh, with the ISD-R open (no server needed).
pub fn card(pki: &Pki, p: &Params) -> Result<VCard> {
    let euicc = new_euicc(pki, p, &Clock::manual(p.time as u64))?;
    Ok(Es10::open(VirtualCard {
        card: Card::new(euicc, rng(Some(card_seed(p)))),
        state: None,
    })?)
}
