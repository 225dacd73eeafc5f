//! HandleDownloadProgressInfo (SGP.22 §5.3.5): the SM-DP+ tells the operator that ordered a
//! profile how its download goes, at each notification point. Each one is queued on the
//! callback queue (durable, retried with backoff, in order with the profile's callbacks) for
//! the endpoint configured for the profile's function requester; profiles without a
//! requester (REST orders) or whose requester has no endpoint are not reported.

use rsp_asn1::es2::{Es2RequestHeader, HandleDownloadProgressInfoRequest, NotificationPoint};
use rsp_asn1::es9::ResponseHeader;

use crate::es9::Smdp;
use crate::status::Failure;
use crate::store::Profile;

/// Counter of progress infos sent, numbering their functionCallIdentifiers.
const CALL_COUNTER: &str = "es2-progress";

impl Smdp {
    /// Queues the progress info of `point` for `profile` (`outcome`: `Err` for a failed step,
    /// with its code), carrying `result_data` (the PIR at BPP installation). A store that
    /// cannot queue it is logged, never the step's failure: the step itself is done.
    pub(crate) fn progress(
        &self,
        profile: &Profile,
        point: NotificationPoint,
        outcome: Result<(), &Failure>,
        result_data: Option<&[u8]>,
    ) {
        let Some(url) = profile
            .requester
            .as_deref()
            .and_then(|r| self.es2_endpoints.get(r))
        else {
            return;
        };
        let Some(view) = profile.es2_view() else {
            return;
        };
        let status = match outcome {
            Ok(()) => ResponseHeader::success(),
            Err(f) => {
                let (s, r) = f.subject_reason();
                ResponseHeader::failed(s, r, Some(f.message.clone()))
            }
        }
        .function_execution_status;
        let queued = self.store.next_serial(CALL_COUNTER).and_then(|n| {
            let body = HandleDownloadProgressInfoRequest {
                header: Es2RequestHeader {
                    function_requester_identifier: Some(self.address.clone()),
                    function_call_identifier: Some(format!("smdp-sim-progress-{n}")),
                },
                iccid: view.iccid.clone(),
                profile_type: view.profile_type.clone(),
                timestamp: crate::clock::iso8601(self.clock.unix()),
                notification_point_id: point.id(),
                notification_point_status: status,
                eid: profile.eid.map(|e| e.to_string()),
                result_data: result_data.map(rsp_asn1::es9::base64_encode),
            };
            let json = serde_json::to_string(&body)
                .map_err(|e| crate::store::StoreError::Invalid(e.to_string()))?;
            self.store
                .queue_es2_progress(profile.id, url, &json, self.clock.unix())
        });
        match queued {
            Ok(()) => {
                tracing::info!(profile = %profile.sid, point = point.id(), %url, "ES2+ progress queued")
            }
            Err(e) => {
                tracing::warn!(profile = %profile.sid, point = point.id(), error = %e, "ES2+ progress not queued")
            }
        }
    }
}
