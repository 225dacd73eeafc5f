//! `smdp`: the smdp-sim command line.
//!
//! `smdp serve` runs the SM-DP+; the other commands are tools: decoding any SGP.22 message,
//! activation codes, EIDs, test PKIs, profile packages and orders, accounts, virtual eUICCs.

mod es2_cmd;
mod euicc_cmd;
mod vectors_cmd;
mod verify_bpp_cmd;

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rsp_asn1::es9::base64_decode;
use rsp_asn1::ids::{ActivationCode, Eid};
use smdp_core::store::OperatorStore;
use smdp_server::StoreLocation;

/// Where a command finds the store: the same choice as `smdp serve`'s.
#[derive(clap::Args, Clone)]
struct StoreArgs {
    /// Data folder of the SQLite store.
    #[arg(long, env = "SMDP_DATA", default_value = "data")]
    data: PathBuf,
    /// The store: `sqlite:FOLDER` (or a folder), or `postgres://user@host/db`; overrides
    /// --data.
    #[arg(long, env = "SMDP_STORE")]
    store: Option<String>,
}

impl StoreArgs {
    fn location(&self) -> Result<StoreLocation> {
        Ok(StoreLocation::resolve(self.store.as_deref(), &self.data)?)
    }

    fn open(&self) -> Result<std::sync::Arc<dyn OperatorStore>> {
        Ok(self.location()?.open()?)
    }
}

impl std::fmt::Display for StoreArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.location() {
            Ok(l) => l.fmt(f),
            Err(_) => f.write_str(self.store.as_deref().unwrap_or_default()),
        }
    }
}

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
// Parsed once at startup: the size of the largest variant (the serve settings) costs nothing.
#[allow(clippy::large_enum_variant)]
enum Command {
    /// Run the SM-DP+ (ES9+ over TLS). With no flags: 127.0.0.1:8443, address `localhost`,
    /// store in ./data, our PKI in ./certs.
    Serve {
        #[command(flatten)]
        settings: smdp_server::serve::Settings,
        /// TOML file with the same settings (kebab-case keys); flags and SMDP_* environment
        /// variables override it.
        #[arg(long, env = "SMDP_CONFIG")]
        config: Option<PathBuf>,
    },
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
    /// Test PKIs: generate one, issue a DPtls certificate, check chains.
    #[command(subcommand)]
    Pki(PkiCommand),
    /// Profile packages (SAIP).
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Operator accounts of the REST API: create one (with an API key and a bearer token),
    /// list them.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Conformance fixture orders (SGP.23-derived suites): provision them, or reset them.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// The store itself: migrate it, check it, copy an SQLite store into PostgreSQL.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Virtual eUICCs as state files: manufacture one with a pre-installed profile, enable,
    /// disable or delete its profiles (queuing the notifications), show it.
    #[command(subcommand)]
    Euicc(euicc_cmd::EuiccCommand),
    /// Check a Bound Profile Package from any SM-DP+ with the eUICC-side secrets, step by
    /// step (BF23 and smdpSign, ECKA and KDF, every segment's MAC and padding, the 1020-byte
    /// rule, the PPK case), and explain the first failure in SGP.22 terms.
    VerifyBpp(Box<verify_bpp_cmd::VerifyBppArgs>),
    /// Record one deterministic download session as a conformance vector file: every ES9+
    /// and ES10b message, key, signature input and BPP segment named in SGP.22 terms, and
    /// its negative vectors (testdata/sessions/README.md).
    Record(Box<vectors_cmd::RecordArgs>),
    /// Replay a recorded session against this build: the SM-DP+ side, the eUICC side and
    /// every negative vector must answer byte for byte as recorded.
    Replay(vectors_cmd::ReplayArgs),
    /// The ES2+ profile inventory: stock profiles of a type for operators to order, count
    /// and list them.
    #[command(subcommand)]
    Inventory(es2_cmd::InventoryCommand),
    /// Call the SM-DP+'s ES2+ functions as an operator (mutual TLS with a certificate from
    /// `smdp pki issue-operator`).
    Es2(Box<es2_cmd::Es2Args>),
    /// Check an EID's check digits, or complete 30 digits with them.
    Eid {
        /// 32 digits to check, or 30 digits to complete.
        eid: String,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Create the store or bring its schema up to this smdp's version (a store of a newer
    /// version is refused, never changed), and print the version.
    Migrate {
        #[command(flatten)]
        data: StoreArgs,
    },
    /// Schema version, row counts, and integrity: the backend's own checks (SQLite's
    /// integrity and foreign-key checks) and the store's invariants. Exits 1 on a problem.
    Check {
        #[command(flatten)]
        data: StoreArgs,
    },
    /// Copy every row of an SQLite store into an empty PostgreSQL store, in one transaction
    /// (all or nothing), for users who grow out of one machine.
    Copy {
        /// The SQLite store: `sqlite:FOLDER` or a folder.
        #[arg(long)]
        from: String,
        /// The PostgreSQL store: `postgres://user@host/db`.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum FixturesCommand {
    /// Creates every fixture order that has no live order (and replaces consumed ones).
    Load {
        /// `sgp23` (the shipped fixtures/sgp23.toml) or a fixture file.
        #[arg(default_value = "sgp23")]
        fixtures: String,
        #[command(flatten)]
        data: StoreArgs,
    },
    /// Ends every live fixture order and provisions them all afresh: the initial state.
    Reset {
        #[arg(default_value = "sgp23")]
        fixtures: String,
        #[command(flatten)]
        data: StoreArgs,
    },
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an account: prints its AccountSid and AuthToken, an API key (SK…) with its
    /// secret, and a bearer token.
    Create {
        #[arg(long, default_value = "smdp-sim account")]
        friendly_name: String,
        #[command(flatten)]
        data: StoreArgs,
    },
    /// List the accounts in a store.
    List {
        #[command(flatten)]
        data: StoreArgs,
    },
    /// Show or set an account's MILENAGE parameters: with an OP, the OPc of each profile it
    /// reserves from now on is derived from OP and Ki (3GPP TS 35.206), so a core network
    /// configured with the OP authenticates it; AMF goes to the subscriber export.
    Milenage {
        /// The AccountSid.
        account: String,
        /// OP, 32 hex digits.
        #[arg(long, conflicts_with = "random_opc")]
        op: Option<String>,
        /// Forget the OP: each profile gets a random OPc (the default).
        #[arg(long)]
        random_opc: bool,
        /// AMF, 4 hex digits (default 8000).
        #[arg(long)]
        amf: Option<String>,
        #[command(flatten)]
        data: StoreArgs,
    },
    /// An account's ledger: one $3.00 charge per reserved profile, and the total.
    Ledger {
        /// The AccountSid.
        account: String,
        #[command(flatten)]
        data: StoreArgs,
    },
}

#[derive(Subcommand)]
enum ProfileCommand {
    /// List a profile package's elements, header and personalised values (ICCID, IMSI, SPN,
    /// Ki/OPc), and check the SAIP rules.
    Inspect {
        /// The package (DER).
        file: PathBuf,
    },
    /// Write a personalised profile from a template (the generated minimal USIM by default).
    Generate {
        /// `minimal`, `minimal:<size>` (e.g. `minimal:256k`: padded to exactly that many
        /// bytes), `ts48`, `ts48:<variant>` (from the shared folder), or a DER file.
        #[arg(long, default_value = "minimal")]
        template: smdp_core::template::TemplateSource,
        /// 19 digits (the Luhn check digit is appended) or 20 with a valid check digit.
        #[arg(long)]
        iccid: Option<String>,
        #[arg(long)]
        imsi: Option<String>,
        /// 32 hex digits.
        #[arg(long)]
        ki: Option<String>,
        /// 32 hex digits.
        #[arg(long)]
        opc: Option<String>,
        /// Service provider name (EF.SPN).
        #[arg(long)]
        spn: Option<String>,
        /// Output file (DER).
        #[arg(long)]
        out: PathBuf,
    },
    /// List the built-in templates and whether each is available here.
    Templates,
    /// Reserve a profile for download: by EID (default SM-DP+), by matching ID (activation
    /// code), or both.
    Add(Box<AddArgs>),
    /// Import a manufacturer's batch of pre-installed profiles for an account: CSV with a
    /// header `eid,iccid,imsi,ki,opc[,spn][,sim_unique_name]`, or a JSON array of objects
    /// with those keys. Each row becomes an ESimProfile `installed` on its EID, with its Sim.
    /// All or nothing: every bad row is reported; re-running the same file changes nothing.
    Import {
        /// The account the profiles belong to (`AC…`).
        #[arg(long)]
        account: String,
        /// The batch file.
        file: PathBuf,
        /// Cents charged per imported profile (0: none).
        #[arg(long, default_value_t = 300)]
        charge_cents: u32,
        #[command(flatten)]
        data: StoreArgs,
    },
    /// Export the subscriber keys (IMSI, Ki, OPc, OP when it derives the OPc, AMF) of an
    /// account's issued profiles for a lab core network: `csv`, `json`, `open5gs` (one
    /// subscriber document per line, for `mongoimport --db open5gs --collection subscribers`)
    /// or `open5gs-dbctl` (`open5gs-dbctl add` lines). The only output that carries secrets.
    Export {
        /// The account (`AC…`).
        #[arg(long)]
        account: String,
        /// Only profiles in this status (available, downloaded or installed); all three when
        /// not given.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value = "csv")]
        format: smdp_core::export::ExportFormat,
        /// Write here (created with mode 0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        data: StoreArgs,
    },
    /// Release a held order (`profile add --unreleased`): it becomes downloadable.
    Release {
        /// The profile's sid (`HP…`) or matching ID.
        profile: String,
        #[command(flatten)]
        data: StoreArgs,
    },
    /// List the orders in a store.
    List {
        #[command(flatten)]
        data: StoreArgs,
    },
}

/// What `smdp profile add` takes.
#[derive(clap::Args)]
struct AddArgs {
    /// The eUICC the profile is for (32 digits, check digits included).
    #[arg(long)]
    eid: Option<rsp_asn1::ids::Eid>,
    /// A matching ID to use; see --generate-matching-id.
    #[arg(long)]
    matching_id: Option<String>,
    /// Generate a matching ID (the activation code is printed).
    #[arg(long)]
    generate_matching_id: bool,
    /// Make this many orders alike (with --generate-matching-id, or --matching-id-prefix),
    /// one line each: sid, ICCID, activation code.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    count: u32,
    /// Matching IDs PREFIX1 … PREFIXN for --count N orders.
    #[arg(long, conflicts_with_all = ["matching_id", "generate_matching_id"])]
    matching_id_prefix: Option<String>,
    /// Require this confirmation code at download.
    #[arg(long)]
    confirmation_code: Option<String>,
    /// How the confirmation code is hashed: `ascii` (its bytes as typed, what LPAs such as
    /// lpac do) or `hex` (hex-decoded first, what some SGP.23 test suites do).
    #[arg(long, default_value = "ascii")]
    confirmation_code_encoding: smdp_core::order_options::CcEncoding,
    /// Hold the order: reserved but not downloadable (8.2/1.2) until `profile release`.
    #[arg(long)]
    unreleased: bool,
    /// Refuse rebinding: a new otPK.EUICC after a BPP was issued gets 8.2/3.7.
    #[arg(long)]
    no_rebinding: bool,
    /// Serve the profile pre-protected with its own PPKs (A2 ReplaceSessionKeys).
    #[arg(long)]
    pre_protected: bool,
    /// Service provider name in the profile metadata.
    #[arg(long)]
    service_provider_name: Option<String>,
    /// Profile name in the profile metadata.
    #[arg(long)]
    profile_name: Option<String>,
    /// Icon (PNG or JPEG, at most 1024 bytes) for the profile metadata.
    #[arg(long)]
    icon: Option<PathBuf>,
    /// Profile class: test, provisioning or operational (the default).
    #[arg(long)]
    profile_class: Option<smdp_core::order_options::ProfileClassName>,
    /// Profile policy rules: `ppr1` (disabling not allowed), `ppr2` (deletion not
    /// allowed), comma-separated.
    #[arg(long)]
    ppr: Option<smdp_core::order_options::Pprs>,
    /// Profile owner: `MCCMNC[:GID1[:GID2]]` (GIDs in hex).
    #[arg(long)]
    owner: Option<smdp_core::order_options::ProfileOwner>,
    /// SGP.32 metadata: an emergency-call (eCall) profile (`true` or `false`).
    #[arg(long)]
    ecall_indication: Option<bool>,
    /// SGP.32 metadata: the eUICC may fall back from this profile (`true` or `false`).
    #[arg(long)]
    fallback_allowed: Option<bool>,
    /// Notifications the eUICC sends: `enable,disable,delete[@address]` (repeatable;
    /// default enable, disable and delete to this SM-DP+; `none` for none).
    #[arg(long)]
    notify: Vec<String>,
    /// A scripted fault (repeatable): `function:action[@attempt]`, e.g.
    /// `authenticateClient:status=8.2.6/3.8@1`, `getBoundProfilePackage:flip-mac=2`,
    /// `handleNotification:ignore-pir` (see the README's "Testing your LPA").
    #[arg(long = "fault")]
    faults: Vec<smdp_core::faults::Fault>,
    /// Eligibility: the eUICC's SVN at least this (e.g. 2.2.0).
    #[arg(long)]
    min_euicc_svn: Option<smdp_core::order_options::Version>,
    /// Eligibility: a UICC capability the eUICC must declare (repeatable), e.g. javacard.
    #[arg(long = "require-uicc-capability", value_parser = smdp_core::order_options::parse_uicc_capability)]
    require_uicc_capability: Vec<String>,
    /// Eligibility: a radio technology the device must support, optionally with a
    /// minimum release (repeatable), e.g. `nr-5gc` or `eutran-epc>=15`.
    #[arg(long = "require-device-capability")]
    require_device_capability: Vec<smdp_core::order_options::DeviceCapability>,
    #[arg(long, default_value = "minimal")]
    template: smdp_core::template::TemplateSource,
    /// Seconds until the order expires (none by default).
    #[arg(long)]
    expires_in: Option<i64>,
    /// Downloads (new bindings) allowed.
    #[arg(long, default_value_t = 5)]
    max_attempts: i64,
    #[command(flatten)]
    data: StoreArgs,
    /// SM-DP+ address for the activation code (with the port when not 443) [default: the
    /// address `smdp serve` last served this data folder under, else localhost:8443].
    #[arg(long)]
    address: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Generate CI, EUM, eUICC, DPauth, DPpb and DPtls (SGP.26 file layout).
    Generate {
        /// Output folder (created).
        #[arg(long, default_value = "certs")]
        out: PathBuf,
        /// nist, brp or both.
        #[arg(long, default_value = "both")]
        curve: String,
        /// DPtls host names or IP addresses (repeatable).
        #[arg(long = "host", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
        hosts: Vec<String>,
        /// EID prefix the EUM may issue.
        #[arg(long, default_value = "89001012")]
        eid_prefix: String,
        /// Make every key and serial number deterministic.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Issue a DPtls certificate for any host under a PKI's CI (its key must be present),
    /// e.g. under the SGP.26 CI once the shipped TLS certificates have expired.
    IssueTls {
        /// The PKI folder holding the CI certificate and key.
        #[arg(long)]
        pki: PathBuf,
        /// Host names or IP addresses (repeatable).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// nist or brp.
        #[arg(long, default_value = "nist")]
        curve: String,
        /// Validity in days, from now.
        #[arg(long, default_value_t = 365)]
        days: u64,
        /// Output folder: `DPtls/CERT_S_SM_DP_TLS_<curve>.der` and `SK_S_SM_DP_TLS_<curve>.pem`.
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Issue an operator's ES2+ client certificate (mutual TLS) for a function requester,
    /// under the PKI folder's operator CA (`Operator/`, made by `pki generate`; made here if
    /// the folder has none).
    IssueOperator {
        /// The function requester identifier, a DNS name: the certificate's CN and dNSName.
        #[arg(long)]
        id: String,
        /// The PKI folder holding (or to hold) the operator CA.
        #[arg(long, default_value = "certs")]
        pki: PathBuf,
        /// Output folder: `<id>.pem` (certificate) and `<id>.key.pem` (its key).
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Check every chain of a PKI folder by SGP.22 rules.
    Check {
        #[arg(long, default_value = "certs")]
        pki: PathBuf,
        /// Check at this Unix time instead of now.
        #[arg(long)]
        at: Option<u64>,
    },
}

fn pki(cmd: PkiCommand) -> Result<()> {
    use rsp_auth::pki::{GenerateOptions, Pki};
    use std::time::{Duration, SystemTime};
    match cmd {
        PkiCommand::Generate {
            out,
            curve,
            hosts,
            eid_prefix,
            seed,
        } => {
            let opts = GenerateOptions {
                curves: rsp_auth::generate::parse_curves(&curve)?,
                hosts,
                eid_prefix,
                ..Default::default()
            };
            let mut rng = rsp_auth::rng::rng(seed);
            let pki = Pki::generate(&opts, &mut rng)?;
            let files = pki.write(&out)?;
            // After the GSMA PKI, from the same generator: its files stay as they were.
            let operator_ca = rsp_auth::operator::generate_ca(&mut rng)?;
            rsp_auth::operator::write_ca(&out, &operator_ca)?;
            for line in pki.check(SystemTime::now())? {
                println!("{line}");
            }
            println!(
                "operator CA (ES2+ client certificates): {}",
                operator_ca.cert.subject
            );
            println!("wrote {} files to {}", files.len() + 2, out.display());
        }
        PkiCommand::IssueOperator { id, pki, out, seed } => {
            let mut rng = rsp_auth::rng::rng(seed);
            rsp_auth::operator::check_id(&id)?;
            let ca = match rsp_auth::operator::load_ca(&pki)? {
                Some(ca) => ca,
                None => {
                    let ca = rsp_auth::operator::generate_ca(&mut rng)?;
                    rsp_auth::operator::write_ca(&pki, &ca)?;
                    println!(
                        "made an operator CA in {}",
                        pki.join(rsp_auth::operator::CA_CERT).display()
                    );
                    ca
                }
            };
            let client = rsp_auth::operator::issue_client(&ca, &id, &mut rng)?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let cert = out.join(format!("{id}.pem"));
            let key = out.join(format!("{id}.key.pem"));
            std::fs::write(&cert, client.cert.to_pem()?)
                .with_context(|| format!("writing {}", cert.display()))?;
            std::fs::write(&key, client.key.to_sec1_pem()?)
                .with_context(|| format!("writing {}", key.display()))?;
            println!(
                "{} (function requester {id}, under {}): {} and {}",
                client.cert.subject,
                ca.cert.subject,
                cert.display(),
                key.display()
            );
        }
        PkiCommand::IssueTls {
            pki,
            hosts,
            curve,
            days,
            out,
            seed,
        } => {
            let loaded = Pki::load(&pki)?;
            let curve = *rsp_auth::generate::parse_curves(&curve)?
                .first()
                .context("one curve")?;
            let c = loaded
                .by_curve(curve)
                .with_context(|| format!("{}: no {curve} CI", pki.display()))?;
            let now = SystemTime::now();
            let tls = c.issue_dptls(
                &hosts,
                now - Duration::from_secs(3600),
                now + Duration::from_secs(days * 86_400),
                &mut rsp_auth::rng::rng(seed),
            )?;
            let dir = out.join("DPtls");
            std::fs::create_dir_all(&dir)?;
            let tag = curve.file_tag();
            std::fs::write(
                dir.join(format!("CERT_S_SM_DP_TLS_{tag}.der")),
                tls.cert.der(),
            )?;
            std::fs::write(
                dir.join(format!("SK_S_SM_DP_TLS_{tag}.pem")),
                tls.key.to_sec1_pem()?,
            )?;
            println!(
                "DPtls for {:?} valid until Unix {} in {}",
                tls.cert.dns_names,
                tls.cert.not_after_unix(),
                dir.display()
            );
        }
        PkiCommand::Check { pki, at } => {
            let at = at.map_or_else(SystemTime::now, |s| {
                SystemTime::UNIX_EPOCH + Duration::from_secs(s)
            });
            let loaded = Pki::load(&pki)?;
            for line in loaded.check(at)? {
                println!("{line}");
            }
        }
    }
    Ok(())
}

fn key16(hex_text: Option<String>, what: &str) -> Result<Option<[u8; 16]>> {
    hex_text
        .map(|h| {
            hex::decode(h.trim())
                .ok()
                .and_then(|b| <[u8; 16]>::try_from(b).ok())
                .with_context(|| format!("{what} must be 32 hex digits"))
        })
        .transpose()
}

fn profile(cmd: ProfileCommand) -> Result<()> {
    use smdp_core::template::{TemplateSource, TS48_VARIANTS};
    match cmd {
        ProfileCommand::Inspect { file } => {
            let der =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let pkg = rsp_saip::ProfilePackage::parse(&der)?;
            print!("{}", pkg.listing());
            pkg.validate()?;
            println!(
                "valid: {} elements, {} bytes",
                pkg.elements.len(),
                der.len()
            );
        }
        ProfileCommand::Generate {
            template,
            iccid,
            imsi,
            ki,
            opc,
            spn,
            out,
        } => {
            let mut pkg = template.load(rsp_shared::dir().as_deref())?;
            let iccid = match iccid {
                Some(d) if d.len() == 19 => Some(rsp_asn1::ids::Iccid::with_luhn(&d)?.digits()?),
                other => other,
            };
            pkg.personalise(&rsp_saip::Personalisation {
                iccid,
                imsi,
                ki: key16(ki, "--ki")?,
                opc: key16(opc, "--opc")?,
                spn,
            })?;
            pkg.validate()?;
            let der = pkg.to_der();
            std::fs::write(&out, &der).with_context(|| format!("writing {}", out.display()))?;
            print!("{}", pkg.listing());
            println!("wrote {} ({} bytes)", out.display(), der.len());
        }
        ProfileCommand::Add(args) => {
            let AddArgs {
                eid,
                matching_id,
                generate_matching_id,
                count,
                matching_id_prefix,
                confirmation_code,
                confirmation_code_encoding,
                unreleased,
                no_rebinding,
                pre_protected,
                service_provider_name,
                profile_name,
                icon,
                profile_class,
                ppr,
                owner,
                ecall_indication,
                fallback_allowed,
                notify,
                faults,
                min_euicc_svn,
                require_uicc_capability,
                require_device_capability,
                template,
                expires_in,
                max_attempts,
                data,
                address,
                seed,
            } = *args;
            use smdp_core::order_options as oo;
            let store = data.open()?;
            let now = smdp_core::clock::Clock::System.unix();
            let icon = match icon {
                Some(path) => Some(oo::Icon::from_bytes(
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
                )?),
                None => None,
            };
            let notifications = match notify.as_slice() {
                [] => None,
                [none] if none == "none" => Some(Vec::new()),
                list => Some(
                    list.iter()
                        .map(|n| n.parse::<oo::NotificationConfig>())
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            let options = oo::OrderOptions {
                icon,
                profile_class,
                ppr: ppr.unwrap_or_default(),
                owner,
                ecall_indication,
                fallback_allowed,
                notifications,
                requires: oo::DeviceRequirements {
                    min_euicc_svn,
                    uicc_capabilities: require_uicc_capability,
                    device_capabilities: require_device_capability,
                },
                rebinding: if no_rebinding {
                    oo::Rebinding::Refused
                } else {
                    oo::Rebinding::Allowed
                },
                confirmation_code_encoding,
                pre_protected,
                faults,
                fixture: None,
            };
            if let Some(note) = matching_id
                .as_deref()
                .map(smdp_core::orders::check_matching_id)
                .transpose()?
                .flatten()
            {
                eprintln!("note: {note}");
            }
            let defaults = smdp_core::orders::OrderRequest::default();
            let req = smdp_core::orders::OrderRequest {
                eid,
                matching_id,
                generate_matching_id,
                confirmation_code,
                template,
                expires_at: expires_in.map(|s| now + s),
                max_attempts,
                unreleased,
                options,
                service_provider_name: service_provider_name
                    .unwrap_or(defaults.service_provider_name.clone()),
                profile_name: profile_name.unwrap_or(defaults.profile_name.clone()),
                ..defaults
            };
            let address = match address {
                Some(a) => a,
                None => store
                    .meta(smdp_server::serve::ADDRESS_META)?
                    .unwrap_or_else(|| "localhost:8443".into()),
            };
            let mut rng = rsp_auth::rng::rng(seed);
            let shared = rsp_shared::dir();
            let mut reserve = |req: &smdp_core::orders::OrderRequest| {
                smdp_core::orders::reserve(
                    store.as_ref(),
                    &rsp_saip::NumberPlan::default(),
                    shared.as_deref(),
                    req,
                    &mut rng,
                    now,
                )
            };
            if count > 1 || matching_id_prefix.is_some() {
                if req.eid.is_some() || !(generate_matching_id || matching_id_prefix.is_some()) {
                    anyhow::bail!(
                        "--count makes orders by matching ID: give --generate-matching-id or \
                         --matching-id-prefix (and no --eid)"
                    );
                }
                // All or nothing: every matching ID free before the first order is made.
                if let Some(prefix) = &matching_id_prefix {
                    for i in 1..=count {
                        let m = format!("{prefix}{i}");
                        smdp_core::orders::check_matching_id(&m)?;
                        if store.profile_by_matching_id(&m)?.is_some() {
                            anyhow::bail!("matching ID {m} is taken: nothing was made");
                        }
                    }
                }
                for i in 1..=count {
                    let req = smdp_core::orders::OrderRequest {
                        matching_id: matching_id_prefix.as_ref().map(|p| format!("{p}{i}")),
                        ..req.clone()
                    };
                    let p = reserve(&req)?;
                    let ac = smdp_core::orders::activation_code(&address, &p)
                        .map(|ac| ac.to_qr_text())
                        .unwrap_or_default();
                    println!("{}  {}  {ac}", p.sid, p.iccid.as_deref().unwrap_or("-"));
                }
                return Ok(());
            }
            let p = reserve(&req)?;
            println!("profile:         {}", p.sid);
            println!("iccid:           {}", p.iccid.as_deref().unwrap_or("-"));
            println!(
                "eid:             {}",
                p.eid.map(|e| e.to_string()).unwrap_or("-".into())
            );
            match smdp_core::orders::activation_code(&address, &p) {
                Some(ac) => println!("activation code: {}", ac.to_qr_text()),
                None => println!("activation code: - (default SM-DP+: download by EID)"),
            }
            if !p.released {
                println!(
                    "status:          held (8.2/1.2) until `smdp profile release {}`",
                    p.sid
                );
            }
        }
        ProfileCommand::Export {
            account,
            status,
            format,
            out,
            data,
        } => {
            let store = data.open()?;
            if !store.accounts()?.iter().any(|(sid, _)| *sid == account) {
                anyhow::bail!("no account {account} in {}", data);
            }
            let status = status
                .map(|s| {
                    smdp_core::store::ProfileStatus::parse(&s)
                        .ok_or_else(|| anyhow::anyhow!("unknown status {s:?}"))
                })
                .transpose()?;
            let rows = smdp_operator::export::subscribers(store.as_ref(), &account, status)?;
            let text = smdp_core::export::render(format, &rows);
            match out {
                None => print!("{text}"),
                Some(path) => {
                    use std::io::Write as _;
                    let mut o = std::fs::OpenOptions::new();
                    o.write(true).create(true).truncate(true);
                    #[cfg(unix)]
                    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                    o.open(&path)
                        .and_then(|mut f| f.write_all(text.as_bytes()))
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("{} subscribers written to {}", rows.len(), path.display());
                }
            }
        }
        ProfileCommand::Import {
            account,
            file,
            charge_cents,
            data,
        } => {
            let store = data.open()?;
            if !store.accounts()?.iter().any(|(sid, _)| *sid == account) {
                anyhow::bail!("no account {account} in {}", data);
            }
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            match smdp_operator::preinstalled::import(
                store.as_ref(),
                &account,
                &bytes,
                i64::from(charge_cents),
                &mut rsp_auth::rng::rng(None),
                smdp_core::clock::Clock::System.unix(),
            ) {
                Ok(o) => {
                    for sid in &o.created {
                        println!("installed {sid}");
                    }
                    println!(
                        "imported {} pre-installed profiles, {} already there",
                        o.created.len(),
                        o.unchanged
                    );
                }
                Err(e) => {
                    for (row, why) in e.rows() {
                        if row == 0 {
                            eprintln!("{}: {why}", file.display());
                        } else {
                            eprintln!("{} row {row}: {why}", file.display());
                        }
                    }
                    anyhow::bail!("nothing imported from {}", file.display());
                }
            }
        }
        ProfileCommand::Release { profile, data } => {
            let store = data.open()?;
            let p = match store.profile_with_sid(&profile)? {
                Some(p) => p,
                None => store
                    .profile_by_matching_id(&profile)?
                    .with_context(|| format!("no profile {profile:?} in {}", data))?,
            };
            if store.release_order(p.id, smdp_core::clock::Clock::System.unix())? {
                println!("released {}", p.sid);
            } else {
                anyhow::bail!("{} is not held (released already)", p.sid);
            }
        }
        ProfileCommand::List { data } => {
            let store = data.open()?;
            // A page at a time: a store of a million profiles is listed in constant memory.
            use std::io::Write as _;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut after = 0;
            loop {
                let page = store.profiles_after(after, 1000)?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for p in &page {
                    let written = writeln!(
                        out,
                        "{}  {:<10} iccid {}  eid {}  matching id {}  attempts {}/{}",
                        p.sid,
                        p.status.as_str(),
                        p.iccid.as_deref().unwrap_or("-"),
                        p.eid.map(|e| e.to_string()).unwrap_or("-".into()),
                        p.matching_id.as_deref().unwrap_or("-"),
                        p.attempts,
                        p.max_attempts
                    );
                    // A closed pipe (`| head`) ends the listing quietly.
                    if written.is_err() {
                        return Ok(());
                    }
                }
            }
            let _ = out.flush();
        }
        ProfileCommand::Templates => {
            let shared = rsp_shared::dir();
            let mut names = vec!["minimal".to_string(), "minimal:<size>".to_string()];
            names.extend(TS48_VARIANTS.iter().map(|v| format!("ts48:{v}")));
            for name in names {
                let status = match name.parse::<TemplateSource>() {
                    Ok(t) => match t.load(shared.as_deref()) {
                        Ok(p) => format!(
                            "{} bytes, ICCID {}",
                            p.to_der().len(),
                            p.header()?.iccid_digits()
                        ),
                        Err(e) => format!("unavailable: {e:#}"),
                    },
                    Err(_) => "padded to the given size".into(),
                };
                println!("{name:<36} {status}");
            }
        }
    }
    Ok(())
}

/// `smdp … | head`: a reader that closes the pipe ends the command quietly, as it ends any
/// Unix tool, instead of a panic. Rust ignores SIGPIPE, so `println!` panics on the closed
/// stdout; restoring the signal would take unsafe code, which this workspace forbids, so
/// that one panic is turned into a clean exit here.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info)
    }));
}

fn main() -> Result<()> {
    quiet_on_closed_stdout();
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
        Command::Pki(cmd) => pki(cmd),
        Command::Account(AccountCommand::Create {
            friendly_name,
            data,
        }) => {
            let store = data.open()?;
            let c = smdp_operator::accounts::create(
                store.as_ref(),
                &friendly_name,
                &mut rsp_auth::rng::rng(None),
                smdp_core::clock::Clock::System.unix(),
            )?;
            println!("account_sid:  {}", c.account_sid);
            println!("auth_token:   {}", c.auth_token);
            println!("api_key:      {}", c.api_key_sid);
            println!("api_secret:   {}", c.api_key_secret);
            println!("bearer_token: {}", c.bearer_token);
            println!("client_id:    {}", c.client_id);
            println!("client_secret: {}", c.client_secret);
            Ok(())
        }
        Command::Account(AccountCommand::Ledger { account, data }) => {
            let store = data.open()?;
            let charges = store.charges(&account)?;
            let mut total = 0;
            for c in &charges {
                total += c.amount_cents;
                println!(
                    "{}  {}  {}.{:02} {}  {}",
                    smdp_core::clock::iso8601(c.created_at),
                    c.profile_sid,
                    c.amount_cents / 100,
                    c.amount_cents % 100,
                    c.currency,
                    c.description
                );
            }
            println!(
                "total: {}.{:02} USD ({} charges)",
                total / 100,
                total % 100,
                charges.len()
            );
            Ok(())
        }
        Command::Account(AccountCommand::Milenage {
            account,
            op,
            random_opc,
            amf,
            data,
        }) => {
            let store = data.open()?;
            if !store.accounts()?.iter().any(|(sid, _)| *sid == account) {
                anyhow::bail!("no account {account} in {}", data);
            }
            let mut m = store.milenage(&account)?;
            if let Some(op) = op {
                m.op = Some(rsp_saip::milenage::parse_hex16(&op)?);
            }
            if random_opc {
                m.op = None;
            }
            if let Some(amf) = amf {
                m.amf = rsp_saip::milenage::parse_amf(&amf)?;
            }
            store.set_milenage(&account, &m)?;
            // The OP itself is a secret: say whether it is set, not what it is.
            println!(
                "OP:  {}",
                if m.op.is_some() {
                    "set (OPc derived from OP and Ki)"
                } else {
                    "not set (random OPc per profile)"
                }
            );
            println!("AMF: {}", hex::encode_upper(m.amf));
            Ok(())
        }
        Command::Account(AccountCommand::List { data }) => {
            let store = data.open()?;
            for (sid, name) in store.accounts()? {
                println!("{sid}  {name}");
            }
            Ok(())
        }
        Command::Serve { settings, config } => {
            let cfg =
                smdp_server::serve::Config::from_settings(settings.layered(config.as_deref())?)?;
            Ok(smdp_server::serve::run(cfg)?)
        }
        Command::Profile(cmd) => profile(cmd),
        Command::Inventory(cmd) => es2_cmd::inventory(cmd),
        Command::Es2(args) => es2_cmd::es2(*args),
        Command::Euicc(cmd) => euicc_cmd::run(cmd),
        Command::VerifyBpp(args) => verify_bpp_cmd::run(&args),
        Command::Record(args) => vectors_cmd::record(&args),
        Command::Replay(args) => vectors_cmd::replay(&args),
        Command::Store(StoreCommand::Migrate { data }) => {
            let location = data.location()?;
            let version = location.migrate()?;
            println!("{location}: schema version {version}");
            Ok(())
        }
        Command::Store(StoreCommand::Check { data }) => {
            let report = data.location()?.check()?;
            println!("store:          {}", report.store);
            println!("schema version: {}", report.schema_version);
            for (label, n) in &report.counts {
                println!("{label:<20} {n}");
            }
            if report.problems.is_empty() {
                println!("integrity:      ok");
                Ok(())
            } else {
                for p in &report.problems {
                    println!("problem:        {p}");
                }
                bail!("{} problem(s) in {}", report.problems.len(), report.store)
            }
        }
        Command::Store(StoreCommand::Copy { from, to }) => {
            let (from, to): (StoreLocation, StoreLocation) = (from.parse()?, to.parse()?);
            let copied = from.copy_into(&to)?;
            for (table, n) in &copied {
                println!("{table:<24} {n}");
            }
            let total: u64 = copied.iter().map(|(_, n)| n).sum();
            println!("copied {total} rows from {from} into {to}");
            Ok(())
        }
        Command::Fixtures(cmd) => {
            let (name, data, reset) = match cmd {
                FixturesCommand::Load { fixtures, data } => (fixtures, data, false),
                FixturesCommand::Reset { fixtures, data } => (fixtures, data, true),
            };
            let file = smdp_server::serve::load_fixtures(&name)?;
            let store = data.open()?;
            let now = smdp_core::clock::Clock::System.unix();
            if reset {
                let n = smdp_core::fixtures::reset(store.as_ref(), now)?;
                println!("reset {n} fixture orders");
            }
            let created = smdp_core::fixtures::provision(
                store.as_ref(),
                &file,
                &rsp_saip::NumberPlan::default(),
                rsp_shared::dir().as_deref(),
                &mut rsp_auth::rng::rng(None),
                now,
            )?;
            println!(
                "{} fixture orders, {} created",
                file.orders.len(),
                created.len()
            );
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

/// Every field of an ES9+ JSON body, its base64 values decoded, each line after `indent`.
fn json_fields(obj: &serde_json::Map<String, serde_json::Value>, indent: &str) {
    for (field, value) in obj {
        let Some(s) = value.as_str() else {
            println!("{indent}{field}: {value}");
            continue;
        };
        match base64_decode(s)
            .ok()
            .filter(|b| !b.is_empty() && b.len() > 2)
        {
            Some(der) => match rsp_asn1::inspect::describe(&der, None) {
                Ok((name, pretty)) => println!(
                    "{indent}{field}: {name} {}",
                    pretty.replace('\n', &format!("\n{indent}  "))
                ),
                Err(_) => println!("{indent}{field}: {}", hex::encode_upper(&der)),
            },
            None => println!("{indent}{field}: {s}"),
        }
    }
}

/// A recorded session (`lpa download --record`) as an annotated trace: each ES9+ exchange
/// with its status and decoded fields, each ES10 command with its decoded TLVs and the APDU
/// count, in the order they happened.
fn session_trace(events: &[serde_json::Value]) {
    for (i, e) in events.iter().enumerate() {
        let function = e["function"].as_str().unwrap_or("?");
        match e["interface"].as_str() {
            Some("es9") => {
                println!(
                    "#{} ES9+ {function}: POST {} → HTTP {}",
                    i + 1,
                    e["request"]["path"].as_str().unwrap_or("?"),
                    e["response"]["status"]
                );
                for side in ["request", "response"] {
                    println!("  {side}:");
                    match e[side]["body"]["json"].as_object() {
                        Some(obj) => json_fields(obj, "    "),
                        None => println!("    (no JSON body)"),
                    }
                }
            }
            Some("es10") => {
                let tlv = |v: &serde_json::Value| match (v["type"].as_str(), v["decoded"].as_str())
                {
                    (Some(t), Some(d)) => format!("{t} {}", d.replace('\n', "\n    ")),
                    _ => v["hex"].as_str().unwrap_or("-").to_uppercase(),
                };
                let apdus = e["apdus"].as_array().map_or(0, Vec::len);
                println!("#{} ES10 {function} ({apdus} APDUs)", i + 1);
                println!("  command:  {}", tlv(&e["command"]));
                if !e["response"].is_null() {
                    println!("  response: {}", tlv(&e["response"]));
                }
            }
            Some("euicc") => println!(
                "#{} the simulated eUICC's session secret: EID {}, otSK.EUICC {}",
                i + 1,
                e["eid"].as_str().unwrap_or("?"),
                e["otskEuicc"].as_str().unwrap_or("?")
            ),
            _ => println!("#{} {e}", i + 1),
        }
    }
}

/// Decodes raw DER, hex, base64, every base64 field of an ES9+ JSON body, or a recorded
/// session.
fn decode(input: &[u8], type_name: Option<&str>) -> Result<()> {
    let text = std::str::from_utf8(input).map(str::trim);
    if let Ok(t) = text {
        if t.starts_with('{') {
            let body: serde_json::Value = serde_json::from_str(t).context("not valid JSON")?;
            let obj = body.as_object().context("JSON body is not an object")?;
            if let Some(events) = obj.get("events").and_then(|e| e.as_array()) {
                session_trace(events);
                return Ok(());
            }
            json_fields(obj, "");
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
