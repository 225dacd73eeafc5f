//! The Super SIM `Fleet` and `NetworkAccessProfile` resources. A Fleet groups Sims under
//! shared settings and names the Network Access Profile (NAP) that says which networks its
//! Sims may use. The simulator stores and serves them with the spec's fields and formats
//! (`HF…`, `HA…` sids; unique names in place of sids); no network is simulated behind them.
//!
//! Defaults follow the create operation's documentation: `DataEnabled` true, `DataLimit`
//! 1000 MB, `SmsCommandsEnabled` true, methods `POST`, `data_metering` `payg`. A
//! `NetworkAccessProfile` that does not exist in the account is refused with 400/20001 naming
//! it (Twilio's exact code for this case is not public: `../shared/rest/twilio-supersim.md`).

use std::collections::BTreeMap;

use http::StatusCode;
use serde_json::{json, Value};
use smdp_core::clock::iso8601;
use smdp_core::store::{Fleet, FleetUpdate, NetworkAccessProfile, StoreError};

use crate::params::Fields;
use crate::rest::{only, paged, ApiError, Operator};

/// `DataLimit`: "between 1MB (1) and 2TB (2,000,000)".
const DATA_LIMIT: std::ops::RangeInclusive<i64> = 1..=2_000_000;
const DEFAULT_DATA_LIMIT: i64 = 1000;

const FLEET_UPDATE: [&str; 7] = [
    "UniqueName",
    "NetworkAccessProfile",
    "DataLimit",
    "IpCommandsUrl",
    "IpCommandsMethod",
    "SmsCommandsUrl",
    "SmsCommandsMethod",
];

fn duplicate(e: StoreError) -> ApiError {
    match e {
        StoreError::Duplicate { value, .. } => {
            ApiError::invalid(format!("UniqueName {value:?} is already in use"))
        }
        e => e.into(),
    }
}

impl Operator {
    fn nap_by_key(&self, account: &str, key: &str) -> Result<NetworkAccessProfile, ApiError> {
        self.store
            .network_access_profile(account, key)?
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "NetworkAccessProfile {key:?} does not exist in this account"
                ))
            })
    }

    /// `POST /v1/NetworkAccessProfiles` (`UniqueName` optional).
    pub(crate) fn create_nap(
        &self,
        account: &str,
        f: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        only(f, &["UniqueName"])?;
        let name = Fields(f).unique_name("HA")?;
        let sid = smdp_core::orders::new_sid("HA", &mut *self.smdp.rng());
        let nap = self
            .store
            .insert_network_access_profile(&sid, account, name.as_deref(), self.smdp.clock.unix())
            .map_err(duplicate)?;
        Ok((StatusCode::CREATED, nap_json(&nap, base)))
    }

    pub(crate) fn fetch_nap(
        &self,
        account: &str,
        key: &str,
        path: &str,
        base: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        let nap = self
            .store
            .network_access_profile(account, key)?
            .ok_or_else(|| ApiError::not_found(path))?;
        Ok((StatusCode::OK, nap_json(&nap, base)))
    }

    pub(crate) fn list_naps(
        &self,
        account: &str,
        q: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        paged(
            q,
            &format!("{base}/v1/NetworkAccessProfiles"),
            "network_access_profiles",
            &[],
            |c, n| self.store.list_network_access_profiles(account, c, n),
            |c| self.store.network_access_profiles_beyond(account, c),
            |n| n.id,
            |n| nap_json(n, base),
        )
    }

    /// `POST /v1/Fleets`: `NetworkAccessProfile` (sid or unique name) is required.
    pub(crate) fn create_fleet(
        &self,
        account: &str,
        f: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        only(
            f,
            &[
                &FLEET_UPDATE[..],
                &["DataEnabled", "SmsCommandsEnabled"][..],
            ]
            .concat(),
        )?;
        let fields = Fields(f);
        let Some(nap_key) = fields.get("NetworkAccessProfile") else {
            return Err(ApiError::invalid(
                "Missing required parameter NetworkAccessProfile",
            ));
        };
        let nap = self.nap_by_key(account, nap_key)?;
        let now = self.smdp.clock.unix();
        let fleet = Fleet {
            id: 0,
            sid: smdp_core::orders::new_sid("HF", &mut *self.smdp.rng()),
            account_sid: account.into(),
            unique_name: fields.unique_name("HF")?,
            data_enabled: fields.boolean("DataEnabled")?.unwrap_or(true),
            data_limit: fields
                .integer("DataLimit", DATA_LIMIT)?
                .unwrap_or(DEFAULT_DATA_LIMIT),
            network_access_profile_sid: nap.sid,
            ip_commands_url: fields.url("IpCommandsUrl")?,
            ip_commands_method: fields
                .http_method("IpCommandsMethod")?
                .unwrap_or_else(|| "POST".into()),
            sms_commands_enabled: fields.boolean("SmsCommandsEnabled")?.unwrap_or(true),
            sms_commands_url: fields.url("SmsCommandsUrl")?,
            sms_commands_method: fields
                .http_method("SmsCommandsMethod")?
                .unwrap_or_else(|| "POST".into()),
            created_at: now,
            updated_at: now,
        };
        let fleet = self.store.insert_fleet(&fleet).map_err(duplicate)?;
        tracing::info!(sid = %fleet.sid, account, "Fleet created");
        Ok((StatusCode::CREATED, fleet_json(&fleet, base)))
    }

    /// `POST /v1/Fleets/{Sid}`: the fields given change; an empty body changes nothing.
    pub(crate) fn update_fleet(
        &self,
        account: &str,
        fleet: Fleet,
        f: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        only(f, &FLEET_UPDATE)?;
        let fields = Fields(f);
        let nap = fields
            .get("NetworkAccessProfile")
            .map(|k| self.nap_by_key(account, k))
            .transpose()?;
        let u = FleetUpdate {
            unique_name: fields.unique_name("HF")?,
            network_access_profile_sid: nap.map(|n| n.sid),
            data_limit: fields.integer("DataLimit", DATA_LIMIT)?,
            ip_commands_url: fields.url("IpCommandsUrl")?,
            ip_commands_method: fields.http_method("IpCommandsMethod")?,
            sms_commands_url: fields.url("SmsCommandsUrl")?,
            sms_commands_method: fields.http_method("SmsCommandsMethod")?,
        };
        self.store
            .update_fleet(fleet.id, &u, self.smdp.clock.unix())
            .map_err(duplicate)?;
        let updated = self
            .store
            .fleet(account, &fleet.sid)?
            .ok_or_else(|| ApiError::internal("Fleet vanished"))?;
        Ok((StatusCode::OK, fleet_json(&updated, base)))
    }

    pub(crate) fn list_fleets(
        &self,
        account: &str,
        q: &BTreeMap<String, String>,
        base: &str,
    ) -> Result<(StatusCode, Value), ApiError> {
        // The filter takes a sid or unique name; one that names no NAP matches nothing.
        let nap_sid = match q.get("NetworkAccessProfile") {
            None => None,
            Some(k) => Some(
                self.store
                    .network_access_profile(account, k)?
                    .map_or_else(|| k.clone(), |n| n.sid),
            ),
        };
        let filters: Vec<(&str, String)> = q
            .get("NetworkAccessProfile")
            .map(|v| ("NetworkAccessProfile", v.clone()))
            .into_iter()
            .collect();
        paged(
            q,
            &format!("{base}/v1/Fleets"),
            "fleets",
            &filters,
            |c, n| self.store.list_fleets(account, nap_sid.as_deref(), c, n),
            |c| self.store.fleets_beyond(account, nap_sid.as_deref(), c),
            |f| f.id,
            |f| fleet_json(f, base),
        )
    }
}

fn nap_json(n: &NetworkAccessProfile, base: &str) -> Value {
    let url = format!("{base}/v1/NetworkAccessProfiles/{}", n.sid);
    json!({
        "sid": n.sid,
        "unique_name": n.unique_name,
        "account_sid": n.account_sid,
        "date_created": iso8601(n.created_at),
        "date_updated": iso8601(n.updated_at),
        "url": url,
        "links": { "networks": format!("{url}/Networks") },
    })
}

pub(crate) fn fleet_json(f: &Fleet, base: &str) -> Value {
    json!({
        "account_sid": f.account_sid,
        "sid": f.sid,
        "unique_name": f.unique_name,
        "data_enabled": f.data_enabled,
        "data_limit": f.data_limit,
        "data_metering": "payg",
        "date_created": iso8601(f.created_at),
        "date_updated": iso8601(f.updated_at),
        "url": format!("{base}/v1/Fleets/{}", f.sid),
        "ip_commands_url": f.ip_commands_url,
        "ip_commands_method": f.ip_commands_method,
        "network_access_profile_sid": f.network_access_profile_sid,
        "sms_commands_enabled": f.sms_commands_enabled,
        "sms_commands_url": f.sms_commands_url,
        "sms_commands_method": f.sms_commands_method,
    })
}
