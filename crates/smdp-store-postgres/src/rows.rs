//! Rows to records. Every column is read with `try_get`, so a row of the wrong shape is an
//! error, never a panic; text columns holding typed values (EIDs, transaction IDs, statuses)
//! that do not parse are reported as corrupt rows.

use postgres::Row;
use smdp_core::store::{
    CallbackRecord, CallbackState, CallbackSubject, Fleet, NetworkAccessProfile, OrderOptions,
    Profile, ProfileStatus, Session, SessionState, Sim, SimStatus, StoreError,
};

use crate::Error;
pub(crate) use smdp_store_sql::{
    CALLBACK_COLUMNS, FLEET_COLUMNS, NAP_COLUMNS, PROFILE_COLUMNS, SESSION_COLUMNS, SIM_COLUMNS,
};

pub(crate) type R<T> = std::result::Result<T, Error>;

fn corrupt(idx: usize, what: impl std::fmt::Display) -> Error {
    Error::Store(StoreError::Invalid(format!(
        "corrupt row: column {idx}: {what}"
    )))
}

/// A TEXT column holding one of an enum's names.
pub(crate) fn text_enum<T>(r: &Row, idx: usize, parse: fn(&str) -> Option<T>) -> R<T> {
    let text: String = r.try_get(idx)?;
    parse(&text).ok_or_else(|| corrupt(idx, format!("unknown value {text:?}")))
}

/// A nullable TEXT column holding a typed value by its text form.
pub(crate) fn opt<T: std::str::FromStr>(r: &Row, idx: usize) -> R<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match r.try_get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|e: T::Err| corrupt(idx, e)),
    }
}

/// A TEXT column holding a typed value by its text form.
pub(crate) fn req<T: std::str::FromStr>(r: &Row, idx: usize) -> R<T>
where
    T::Err: std::fmt::Display,
{
    let t: String = r.try_get(idx)?;
    t.parse().map_err(|e: T::Err| corrupt(idx, e))
}

pub(crate) fn profile(r: &Row) -> R<Profile> {
    Ok(Profile {
        id: r.try_get(0)?,
        sid: r.try_get(1)?,
        account_sid: r.try_get(2)?,
        status: text_enum(r, 3, ProfileStatus::parse)?,
        eid: opt(r, 4)?,
        matching_id: r.try_get(5)?,
        confirmation_code: r.try_get(6)?,
        iccid: r.try_get(7)?,
        imsi: r.try_get(8)?,
        template: r.try_get(9)?,
        service_provider_name: r.try_get(10)?,
        profile_name: r.try_get(11)?,
        expires_at: r.try_get(12)?,
        max_attempts: r.try_get(13)?,
        attempts: r.try_get(14)?,
        bound_txid: opt(r, 15)?,
        bound_otpk: r.try_get(16)?,
        bound_otsk: r.try_get(17)?,
        euicc_cert: r.try_get(18)?,
        error_code: r.try_get(19)?,
        error_message: r.try_get(20)?,
        created_at: r.try_get(21)?,
        updated_at: r.try_get(22)?,
        callback_url: r.try_get(23)?,
        callback_method: r.try_get(24)?,
        sim_sid: r.try_get(25)?,
        released: r.try_get(26)?,
        options: {
            let text: String = r.try_get(27)?;
            OrderOptions::from_json(&text).map_err(|e| corrupt(27, e))?
        },
        ppk: r.try_get(28)?,
        bound_smdp_sign: r.try_get(29)?,
        profile_type: r.try_get(30)?,
        requester: r.try_get(31)?,
        es2_mark: match r.try_get::<_, Option<String>>(32)? {
            None => None,
            Some(_) => Some(text_enum(r, 32, smdp_core::es2::State::parse)?),
        },
    })
}

pub(crate) fn session(r: &Row) -> R<Session> {
    Ok(Session {
        txid: req(r, 0)?,
        state: text_enum(r, 1, SessionState::parse)?,
        created_at: r.try_get(2)?,
        expires_at: r.try_get(3)?,
        euicc_challenge: r.try_get(4)?,
        server_challenge: r.try_get(5)?,
        ci_pkid: r.try_get(6)?,
        eid: opt(r, 7)?,
        euicc_cert: r.try_get(8)?,
        profile_id: r.try_get(9)?,
        smdp_signature2: r.try_get(10)?,
        metadata: r.try_get(11)?,
        number: r.try_get(12)?,
    })
}

pub(crate) fn callback(r: &Row) -> R<CallbackRecord> {
    Ok(CallbackRecord {
        id: r.try_get(0)?,
        profile_id: r.try_get(1)?,
        subject: match r.try_get::<_, String>(18)?.as_str() {
            "sim" => CallbackSubject::Sim {
                status: text_enum(r, 19, SimStatus::parse)?,
                unique_name: r.try_get(20)?,
                fleet_sid: r.try_get(21)?,
            },
            "es2_progress" => CallbackSubject::Es2Progress {
                body: r.try_get::<_, Option<String>>(22)?.unwrap_or_default(),
            },
            _ => CallbackSubject::ESimProfile,
        },
        url: r.try_get(2)?,
        method: r.try_get(3)?,
        esim_profile_sid: r.try_get(4)?,
        account_sid: r.try_get(5)?,
        profile_status: text_enum(r, 6, ProfileStatus::parse)?,
        sim_sid: r.try_get(7)?,
        iccid: r.try_get(8)?,
        eid: opt(r, 9)?,
        error_code: r.try_get(10)?,
        error_message: r.try_get(11)?,
        state: text_enum(r, 12, CallbackState::parse)?,
        attempts: r.try_get(13)?,
        next_attempt_at: r.try_get(14)?,
        last_attempt_at: r.try_get(15)?,
        last_http_status: r.try_get(16)?,
        last_error: r.try_get(17)?,
    })
}

pub(crate) fn sim(r: &Row) -> R<Sim> {
    Ok(Sim {
        id: r.try_get(0)?,
        sid: r.try_get(1)?,
        account_sid: r.try_get(2)?,
        unique_name: r.try_get(3)?,
        iccid: r.try_get(4)?,
        status: text_enum(r, 5, SimStatus::parse)?,
        fleet_sid: r.try_get(6)?,
        created_at: r.try_get(7)?,
        updated_at: r.try_get(8)?,
        target_status: match r.try_get::<_, Option<String>>(9)? {
            None => None,
            Some(_) => Some(text_enum(r, 9, SimStatus::parse)?),
        },
    })
}

pub(crate) fn nap(r: &Row) -> R<NetworkAccessProfile> {
    Ok(NetworkAccessProfile {
        id: r.try_get(0)?,
        sid: r.try_get(1)?,
        account_sid: r.try_get(2)?,
        unique_name: r.try_get(3)?,
        created_at: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

pub(crate) fn fleet(r: &Row) -> R<Fleet> {
    Ok(Fleet {
        id: r.try_get(0)?,
        sid: r.try_get(1)?,
        account_sid: r.try_get(2)?,
        unique_name: r.try_get(3)?,
        data_enabled: r.try_get(4)?,
        data_limit: r.try_get(5)?,
        network_access_profile_sid: r.try_get(6)?,
        ip_commands_url: r.try_get(7)?,
        ip_commands_method: r.try_get(8)?,
        sms_commands_enabled: r.try_get(9)?,
        sms_commands_url: r.try_get(10)?,
        sms_commands_method: r.try_get(11)?,
        created_at: r.try_get(12)?,
        updated_at: r.try_get(13)?,
    })
}

/// All rows through `f`.
pub(crate) fn all<T>(rows: Vec<Row>, f: fn(&Row) -> R<T>) -> R<Vec<T>> {
    rows.iter().map(f).collect()
}

/// The constraint a violation names.
pub(crate) fn constraint(e: &postgres::Error) -> Option<&str> {
    e.as_db_error().and_then(|d| d.constraint())
}

/// Whether `e` is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION)
}
