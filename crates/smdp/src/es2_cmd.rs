//! `smdp inventory` (the ES2+ profile inventory) and `smdp es2` (an operator's ES2+ client
//! over mutual TLS, SGP.22 §5.3).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};

use crate::StoreArgs;

#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Stock profiles of one ES2+ profile type: numbers from the number plan, the template
    /// personalised, state Available until an operator's DownloadOrder. Prints each ICCID.
    Add {
        #[command(flatten)]
        stock: StockArgs,
        /// How many.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        count: u32,
        /// Make the Ki/OPc and sids deterministic.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Stock profiles with a batch's own numbers and keys: the pre-installed import's file
    /// (CSV `eid,iccid,imsi,ki,opc[,spn][,sim_unique_name]` or JSON) with `eid` and
    /// `sim_unique_name` empty. All or nothing: every bad row is reported; rows already in
    /// the inventory as this type are left as they are, so a re-run changes nothing.
    Import {
        #[command(flatten)]
        stock: StockArgs,
        file: PathBuf,
    },
    /// Count the inventory by profile type and ES2+ state; with --profile-type, list that
    /// type's profiles.
    List {
        #[arg(long)]
        profile_type: Option<String>,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: StoreArgs,
    },
}

/// What profiles are stocked as, and where.
#[derive(clap::Args)]
pub struct StockArgs {
    /// The profile type operators order (`profileType` in DownloadOrder).
    #[arg(long)]
    profile_type: String,
    /// `minimal`, `minimal:<size>`, `ts48`, `ts48:<variant>` or a DER file.
    #[arg(long, default_value = "minimal")]
    template: smdp_core::template::TemplateSource,
    /// The REST account whose ESimProfiles the orders become [default: the store's first
    /// account].
    #[arg(long)]
    account: Option<String>,
    /// Download attempts each order allows.
    #[arg(long, default_value_t = 5)]
    max_attempts: i64,
    #[command(flatten)]
    data: StoreArgs,
}

type Stock = (
    std::sync::Arc<dyn smdp_core::store::OperatorStore>,
    smdp_core::orders::StockRequest,
);

impl StockArgs {
    /// The store, and the request (the account given, else the store's first).
    fn open(self) -> Result<Stock> {
        let store = self.data.open()?;
        let account_sid = match self.account {
            Some(a) => a,
            None => store
                .accounts()?
                .into_iter()
                .next()
                .map(|(sid, _)| sid)
                .context(
                "the store has no account: create one (`smdp account create`) or give --account",
            )?,
        };
        smdp_core::orders::check_profile_type(&self.profile_type)?;
        let defaults = smdp_core::orders::OrderRequest::default();
        let req = smdp_core::orders::StockRequest {
            account_sid,
            profile_type: self.profile_type,
            template: self.template,
            max_attempts: self.max_attempts,
            service_provider_name: defaults.service_provider_name,
            profile_name: defaults.profile_name,
        };
        Ok((store, req))
    }
}

pub fn inventory(cmd: InventoryCommand) -> Result<()> {
    match cmd {
        InventoryCommand::Import { stock, file } => {
            let (store, req) = stock.open()?;
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = |problems: &[(usize, String)]| -> anyhow::Error {
                for (row, why) in problems {
                    if *row == 0 {
                        eprintln!("{}: {why}", file.display());
                    } else {
                        eprintln!("{} row {row}: {why}", file.display());
                    }
                }
                anyhow::anyhow!("nothing imported from {}", file.display())
            };
            let rows =
                smdp_core::import::parse_inventory(&bytes).map_err(|r| report(&r.problems))?;
            // Every row checked against the store and personalised before the first is
            // written: a bad row, a taken ICCID or a template that does not take the values
            // leaves the store as it was. (A store that fails midway keeps the rows before
            // it; the re-run, which skips them, completes the batch.)
            let shared = rsp_shared::dir();
            let mut problems = Vec::new();
            let mut todo = Vec::new();
            for r in &rows {
                if let Some(p) = store.profile_by_iccid(&r.iccid)? {
                    if p.profile_type.as_deref() != Some(req.profile_type.as_str()) {
                        problems.push((r.row, format!("ICCID {} is another profile's", r.iccid)));
                    }
                    continue;
                }
                let values = rsp_saip::Personalisation {
                    iccid: Some(r.iccid.clone()),
                    imsi: Some(r.imsi.clone()),
                    ki: Some(r.ki),
                    opc: Some(r.opc),
                    spn: r.spn.clone(),
                };
                let der = smdp_core::orders::personalise(&req.template, shared.as_deref(), &values);
                match der {
                    Ok(der) => todo.push((values, der)),
                    Err(e) => problems.push((r.row, format!("{e:#}"))),
                }
            }
            if !problems.is_empty() {
                return Err(report(&problems));
            }
            let mut rng = rsp_auth::rng::rng(None);
            let now = smdp_core::clock::Clock::System.unix();
            let kept = rows.len() - todo.len();
            for (values, der) in todo {
                let p = smdp_core::orders::stock_package(
                    store.as_ref(),
                    &req,
                    &values,
                    der,
                    &mut rng,
                    now,
                )?;
                println!(
                    "{}  {}",
                    p.iccid.as_deref().unwrap_or("-"),
                    req.profile_type
                );
            }
            if kept > 0 {
                eprintln!("{kept} row(s) already in the inventory, left as they are");
            }
            Ok(())
        }
        InventoryCommand::Add { stock, count, seed } => {
            let (store, req) = stock.open()?;
            let mut rng = rsp_auth::rng::rng(seed);
            let shared = rsp_shared::dir();
            let now = smdp_core::clock::Clock::System.unix();
            for _ in 0..count {
                let p = smdp_core::orders::stock(
                    store.as_ref(),
                    &rsp_saip::NumberPlan::default(),
                    shared.as_deref(),
                    &req,
                    &mut rng,
                    now,
                )?;
                println!(
                    "{}  {}",
                    p.iccid.as_deref().unwrap_or("-"),
                    req.profile_type
                );
            }
            Ok(())
        }
        InventoryCommand::List {
            profile_type,
            json,
            data,
        } => {
            let store = data.open()?;
            let Some(t) = profile_type else {
                let counts = store.inventory_counts(None)?;
                if json {
                    let v: Vec<Value> = counts
                        .iter()
                        .map(|c| json!({"profileType": c.profile_type, "state": c.state.as_str(), "count": c.count}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                } else {
                    for c in counts {
                        println!(
                            "{:<24} {:<12} {}",
                            c.profile_type,
                            c.state.as_str(),
                            c.count
                        );
                    }
                }
                return Ok(());
            };
            let mut rows = Vec::new();
            let mut after = 0;
            loop {
                let page = store.profiles_after(after, 1000)?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for p in page
                    .iter()
                    .filter(|p| p.profile_type.as_deref() == Some(&t))
                {
                    rows.push(json!({
                        "iccid": p.iccid,
                        "state": p.es2_state().as_str(),
                        "requester": p.requester,
                        "eid": p.eid.map(|e| e.to_string()),
                        "matchingId": p.matching_id,
                        "sid": (!p.in_inventory()).then(|| p.sid.clone()),
                    }));
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
                    println!(
                        "{}  {:<11} requester {}  eid {}  matching id {}  {}",
                        s("iccid"),
                        s("state"),
                        s("requester"),
                        s("eid"),
                        s("matchingId"),
                        s("sid")
                    );
                }
            }
            Ok(())
        }
    }
}

/// `smdp es2`: the operator's side of ES2+.
#[derive(clap::Args)]
pub struct Es2Args {
    /// The SM-DP+'s ES2+ listener (`smdp serve --es2-listen`).
    #[arg(long, env = "SMDP_ES2_URL", default_value = "https://localhost:8444")]
    url: String,
    /// The operator's client certificate (PEM; `smdp pki issue-operator`).
    #[arg(long, env = "SMDP_ES2_CERT")]
    cert: PathBuf,
    /// Its key (PEM) [default: the certificate's name with `.key.pem`].
    #[arg(long, env = "SMDP_ES2_KEY")]
    key: Option<PathBuf>,
    /// The CA the SM-DP+'s TLS certificate chains to (PEM or DER).
    #[arg(
        long,
        env = "SMDP_ES2_CA",
        default_value = "certs/CertificateIssuer/CERT_CI_ECDSA_NIST.der"
    )]
    ca: PathBuf,
    /// header.functionRequesterIdentifier [default: the certificate's identity].
    #[arg(long)]
    requester: Option<String>,
    /// Print the response body as JSON, unchanged.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    function: Es2Function,
}

#[derive(Subcommand)]
enum Es2Function {
    /// DownloadOrder (SGP.22 §5.3.1): order the profile with an ICCID, or one of a type.
    DownloadOrder {
        #[arg(long)]
        iccid: Option<String>,
        #[arg(long)]
        eid: Option<String>,
        #[arg(long)]
        profile_type: Option<String>,
    },
    /// ConfirmOrder (SGP.22 §5.3.2): fix the EID, matching ID and confirmation code.
    ConfirmOrder {
        #[arg(long)]
        iccid: String,
        #[arg(long)]
        eid: Option<String>,
        /// Absent: the SM-DP+ makes one; `""`: one is made too, but an EID must be known.
        #[arg(long)]
        matching_id: Option<String>,
        #[arg(long)]
        confirmation_code: Option<String>,
        #[arg(long)]
        smds_address: Option<String>,
        /// Release at once (`releaseFlag`); `false` holds it until ReleaseProfile.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        release: bool,
    },
    /// CancelOrder (SGP.22 §5.3.3): back to the inventory, or unavailable for good.
    CancelOrder {
        #[arg(long)]
        iccid: String,
        #[arg(long)]
        eid: Option<String>,
        #[arg(long)]
        matching_id: Option<String>,
        /// `Available` (back to the inventory) or `Unavailable`.
        #[arg(long, default_value = "Available")]
        final_status: String,
    },
    /// ReleaseProfile (SGP.22 §5.3.4).
    ReleaseProfile {
        #[arg(long)]
        iccid: String,
    },
}

pub fn es2(args: Es2Args) -> Result<()> {
    let cert =
        std::fs::read(&args.cert).with_context(|| format!("reading {}", args.cert.display()))?;
    let key_path = args.key.clone().unwrap_or_else(|| {
        let s = args.cert.to_string_lossy();
        PathBuf::from(format!("{}.key.pem", s.strip_suffix(".pem").unwrap_or(&s)))
    });
    let key =
        std::fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
    let requester = match &args.requester {
        Some(r) => r.clone(),
        None => {
            let chain = smdp_server::es2::read_anchors(&cert)
                .map_err(|e| anyhow::anyhow!("{}: {e}", args.cert.display()))?;
            chain
                .first()
                .and_then(|der| rsp_auth::operator::requester_of_der(der))
                .context(
                    "the certificate names no requester (no dNSName, no CN): give --requester",
                )?
        }
    };
    let ca = std::fs::read(&args.ca).with_context(|| format!("reading {}", args.ca.display()))?;
    let roots = smdp_server::es2::read_anchors(&ca)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.ca.display()))?;
    let rest = args
        .url
        .strip_prefix("https://")
        .with_context(|| format!("{}: an https:// URL", args.url))?
        .trim_end_matches('/');
    let host = smdp_core::address::split_host_port(rest).0.to_string();
    let connect = if rest.contains(':') && !rest.ends_with(']') {
        rest.to_string()
    } else {
        format!("{rest}:443")
    };
    let client =
        smdp_operator::es2_client::Es2Client::new(&connect, &host, &roots, Some((&cert, &key)))?;
    let header = json!({
        "functionRequesterIdentifier": requester,
        "functionCallIdentifier": format!("smdp-es2-{}", smdp_core::clock::Clock::System.unix()),
    });
    let put = |b: &mut Value, k: &str, v: &Option<String>| {
        if let Some(v) = v {
            b[k] = json!(v);
        }
    };
    let mut body = json!({ "header": header });
    let function = match &args.function {
        Es2Function::DownloadOrder {
            iccid,
            eid,
            profile_type,
        } => {
            put(&mut body, "iccid", iccid);
            put(&mut body, "eid", eid);
            put(&mut body, "profileType", profile_type);
            "downloadOrder"
        }
        Es2Function::ConfirmOrder {
            iccid,
            eid,
            matching_id,
            confirmation_code,
            smds_address,
            release,
        } => {
            body["iccid"] = json!(iccid);
            body["releaseFlag"] = json!(release);
            put(&mut body, "eid", eid);
            put(&mut body, "matchingId", matching_id);
            put(&mut body, "confirmationCode", confirmation_code);
            put(&mut body, "smdsAddress", smds_address);
            "confirmOrder"
        }
        Es2Function::CancelOrder {
            iccid,
            eid,
            matching_id,
            final_status,
        } => {
            if !matches!(final_status.as_str(), "Available" | "Unavailable") {
                bail!("--final-status {final_status:?}: Available or Unavailable");
            }
            body["iccid"] = json!(iccid);
            body["finalProfileStatusIndicator"] = json!(final_status);
            put(&mut body, "eid", eid);
            put(&mut body, "matchingId", matching_id);
            "cancelOrder"
        }
        Es2Function::ReleaseProfile { iccid } => {
            body["iccid"] = json!(iccid);
            "releaseProfile"
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let reply = rt.block_on(client.call(
        &format!("/gsma/rsp2/es2plus/{function}"),
        body.to_string().as_bytes(),
    ))?;
    if reply.status != 200 {
        bail!(
            "{function}: HTTP {}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body).trim()
        );
    }
    let v = reply.json();
    let status = &v["header"]["functionExecutionStatus"];
    let failed = status["status"] != "Executed-Success";
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else if failed {
        let d = &status["statusCodeData"];
        eprintln!(
            "{function}: {} {}/{}: {}",
            status["status"].as_str().unwrap_or("?"),
            d["subjectCode"].as_str().unwrap_or("?"),
            d["reasonCode"].as_str().unwrap_or("?"),
            d["message"].as_str().unwrap_or("")
        );
    } else {
        println!("{function}: Executed-Success");
        for k in ["iccid", "eid", "matchingId", "smdpAddress"] {
            if let Some(s) = v[k].as_str() {
                println!("  {k}: {s}");
            }
        }
        if let (Some(a), Some(m)) = (v["smdpAddress"].as_str(), v["matchingId"].as_str()) {
            println!("  activation code: LPA:1${a}${m}");
        }
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
