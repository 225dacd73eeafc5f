#![no_main]
//! eUICC side: the other ES10b/ES10c commands and their responses.
use libfuzzer_sys::fuzz_target;
use rsp_asn1::es10::*;
use rsp_asn1::notification::*;
use smdp_sim_fuzz::der_round_trip as rt;
fuzz_target!(|data: &[u8]| {
    rt::<ProfileInfoListRequest>(data);
    rt::<ProfileInfoListResponse>(data);
    rt::<GetEuiccDataRequest>(data);
    rt::<GetEuiccDataResponse>(data);
    rt::<GetEuiccChallengeResponse>(data);
    rt::<EuiccConfiguredAddressesResponse>(data);
    rt::<EnableProfileRequest>(data);
    rt::<DisableProfileRequest>(data);
    rt::<DeleteProfileRequest>(data);
    rt::<SetNicknameRequest>(data);
    rt::<ListNotificationRequest>(data);
    rt::<ListNotificationResponse>(data);
    rt::<RetrieveNotificationsListRequest>(data);
    rt::<RetrieveNotificationsListResponse>(data);
    rt::<NotificationSentRequest>(data);
    rt::<CancelSessionRequest>(data);
    rt::<rsp_asn1::auth::EUICCInfo2>(data);
    rt::<rsp_asn1::download::UpdateMetadataRequest>(data);
    rt::<EuiccMemoryResetRequest>(data);
    rt::<SetDefaultDpAddressRequest>(data);
    rt::<GetRatResponse>(data);
});
