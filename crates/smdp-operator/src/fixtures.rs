//! `GET /v1/Fixtures` and `POST /v1/Fixtures/Reset` (simulator extensions): the conformance
//! fixtures a server was started with (`smdp serve --fixtures`) and a reset that restores
//! them without a restart, as `smdp fixtures reset` does on a data folder. The fixtures are
//! shared test orders whose matching IDs are public (any LPA may consume one), so any
//! authenticated account may list and reset them; a server without fixtures answers 404.

use http::StatusCode;
use serde_json::{json, Value};
use smdp_core::fixtures::{self, FixtureFile};

use crate::rest::{ApiError, Operator};

impl Operator {
    fn fixture_file(&self, path: &str) -> Result<&FixtureFile, ApiError> {
        self.fixtures.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                20404,
                format!(
                    "The requested resource {path} was not found: this server has no fixtures \
                     (smdp serve --fixtures sgp23)"
                ),
            )
        })
    }

    /// Each fixture with its live order (the newest that still stands for it).
    pub(crate) fn list_fixtures(&self, path: &str) -> Result<(StatusCode, Value), ApiError> {
        let file = self.fixture_file(path)?;
        let orders = self.smdp.store.fixture_profiles()?;
        let items: Vec<Value> = file
            .orders
            .iter()
            .map(|f| {
                let current = orders
                    .iter()
                    .rev()
                    .find(|p| p.options.fixture.as_deref() == Some(f.name.as_str()));
                json!({
                    "name": f.name,
                    "matching_id": f.matching_id,
                    "eid": f.eid,
                    "esim_profile_sid": current.map(|p| p.sid.clone()),
                    "iccid": current.and_then(|p| p.iccid.clone()),
                    "status": current.map(|p| p.status.as_str()),
                    "generations": orders
                        .iter()
                        .filter(|p| p.options.fixture.as_deref() == Some(f.name.as_str()))
                        .count(),
                })
            })
            .collect();
        Ok((StatusCode::OK, json!({ "fixtures": items })))
    }

    /// Consumes every live fixture order and provisions them all afresh, now; answers the
    /// number reset and the list as it stands after.
    pub(crate) fn reset_fixtures(&self, path: &str) -> Result<(StatusCode, Value), ApiError> {
        let file = self.fixture_file(path)?;
        let now = self.smdp.clock.unix();
        let store = self.smdp.store.as_ref();
        let failure = |e: fixtures::FixtureError| ApiError::internal(format!("fixtures: {e}"));
        let reset = fixtures::reset(store, now).map_err(failure)?;
        let created = fixtures::provision(
            store,
            file,
            &rsp_saip::NumberPlan::default(),
            rsp_shared::dir().as_deref(),
            &mut *self.smdp.rng(),
            now,
        )
        .map_err(failure)?;
        tracing::info!(reset, created = created.len(), "fixtures reset over REST");
        // What stands now (the replenishing worker may have created some of them meanwhile).
        let (_, mut listed) = self.list_fixtures(path)?;
        listed["reset"] = json!(reset);
        Ok((StatusCode::OK, listed))
    }
}
