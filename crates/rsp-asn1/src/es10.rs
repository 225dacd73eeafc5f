//! ES10b/ES10c commands the LPA sends to the eUICC besides the download itself: profile
//! list, EID, challenge, configured addresses, enable/disable/delete, nickname.

#[allow(unused_imports)] // the rasn derives call trait methods unqualified
use rasn::{AsnType, Decode, Decoder, Encode, Encoder};

use crate::bits::NamedBits;
use crate::download::{DpProprietaryData, IconType, NotificationConfigurationInformation};
use crate::download::{OperatorId, ProfileClass};
use crate::ids::Iccid;
use crate::named_integer;
use crate::raw::Extensions;
use crate::{Octet1, Octet16, OctetString, OctetTo16, Utf8String};

/// `searchCriteria [0] CHOICE` of ProfileInfoListRequest (`A0 { 4F | 5A | 95 }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice)]
pub enum ProfileInfoSearchCriteria {
    #[rasn(tag(application, 15))]
    IsdpAid(OctetTo16),
    Iccid(Iccid),
    #[rasn(tag(context, 21))]
    ProfileClass(ProfileClass),
}

/// `ProfileInfoListRequest` (`BF2D { A0 criteria?, 5C tagList? }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 45))]
pub struct ProfileInfoListRequest {
    #[rasn(tag(explicit(context, 0)))]
    pub search_criteria: Option<ProfileInfoSearchCriteria>,
    /// Tags of the ProfileInfo fields wanted.
    #[rasn(tag(application, 28))]
    pub tag_list: Option<OctetString>,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `ProfileState ::= INTEGER {disabled(0), enabled(1)}`.
    ProfileState {
        disabled = 0,
        enabled = 1,
    }
);

/// `RefArDo` (`E2 { E1 { C1, CA? }, E3 { DB } }`): access rules shown in the profile list.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(private, 2))]
pub struct RefArDo {
    #[rasn(tag(private, 1))]
    pub ref_do: RefDo,
    #[rasn(tag(private, 3))]
    pub ar_do: ArDo,
    pub extensions: Option<Extensions>,
}

/// `refDo` (`E1 { C1 deviceAppIdRefDo, CA pkgRefDo? }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct RefDo {
    #[rasn(tag(private, 1))]
    pub device_app_id_ref_do: OctetString,
    #[rasn(tag(private, 10))]
    pub pkg_ref_do: Option<OctetString>,
    pub extensions: Option<Extensions>,
}

/// `arDo` (`E3 { DB permArDo }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct ArDo {
    #[rasn(tag(private, 27))]
    pub perm_ar_do: OctetString,
    pub extensions: Option<Extensions>,
}

/// `ProfileInfo` (`E3`): one entry of the eUICC's profile list.
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(private, 3))]
pub struct ProfileInfo {
    pub iccid: Option<Iccid>,
    #[rasn(tag(application, 15))]
    pub isdp_aid: Option<OctetTo16>,
    #[rasn(tag(context, 112))]
    pub profile_state: Option<ProfileState>,
    #[rasn(tag(context, 16))]
    pub profile_nickname: Option<Utf8String>,
    #[rasn(tag(context, 17))]
    pub service_provider_name: Option<Utf8String>,
    #[rasn(tag(context, 18))]
    pub profile_name: Option<Utf8String>,
    #[rasn(tag(context, 19))]
    pub icon_type: Option<IconType>,
    #[rasn(tag(context, 20))]
    pub icon: Option<OctetString>,
    #[rasn(tag(context, 21))]
    pub profile_class: Option<ProfileClass>,
    #[rasn(tag(context, 22))]
    pub notification_configuration_info: Option<Vec<NotificationConfigurationInformation>>,
    #[rasn(tag(context, 23))]
    pub profile_owner: Option<OperatorId>,
    #[rasn(tag(context, 24))]
    pub dp_proprietary_data: Option<DpProprietaryData>,
    #[rasn(tag(context, 25))]
    pub profile_policy_rules: Option<NamedBits>,
    #[rasn(tag(context, 118))]
    pub ref_ar_do: Option<Vec<RefArDo>>,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `ProfileInfoListError ::= INTEGER {incorrectInputValues(1), undefinedError(127)}`.
    ProfileInfoListError {
        incorrectInputValues = 1,
        undefinedError = 127,
    }
);

/// `ProfileInfoListResponse ::= [45] CHOICE` (`BF2D { A0 list | 81 error }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice, tag(explicit(context, 45)))]
pub enum ProfileInfoListResponse {
    #[rasn(tag(context, 0))]
    ProfileInfoListOk(Vec<ProfileInfo>),
    #[rasn(tag(context, 1))]
    ProfileInfoListError(ProfileInfoListError),
}

/// `GetEuiccDataRequest` (`BF3E { 5C 5A }`): ask for the EID.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 62))]
pub struct GetEuiccDataRequest {
    /// SHALL be `5A`.
    #[rasn(tag(application, 28))]
    pub tag_list: Octet1,
    pub extensions: Option<Extensions>,
}

/// `GetEuiccDataResponse` (`BF3E { 5A EID }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 62))]
pub struct GetEuiccDataResponse {
    #[rasn(tag(application, 26))]
    pub eid_value: Octet16,
    pub extensions: Option<Extensions>,
}

/// `GetEuiccChallengeRequest` (`BF2E 00`).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 46))]
pub struct GetEuiccChallengeRequest {
    pub extensions: Option<Extensions>,
}

/// `GetEuiccChallengeResponse` (`BF2E { 80 challenge }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 46))]
pub struct GetEuiccChallengeResponse {
    #[rasn(tag(context, 0))]
    pub euicc_challenge: Octet16,
    pub extensions: Option<Extensions>,
}

/// `EuiccConfiguredAddressesRequest` (`BF3C 00`).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 60))]
pub struct EuiccConfiguredAddressesRequest {
    pub extensions: Option<Extensions>,
}

/// `EuiccConfiguredAddressesResponse` (`BF3C { 80 defaultDpAddress?, 81 rootDsAddress }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 60))]
pub struct EuiccConfiguredAddressesResponse {
    #[rasn(tag(context, 0))]
    pub default_dp_address: Option<Utf8String>,
    #[rasn(tag(context, 1))]
    pub root_ds_address: Utf8String,
    pub extensions: Option<Extensions>,
}

/// `profileIdentifier CHOICE { 4F isdpAid | 5A iccid }` (also `DeleteProfileRequest`'s body).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(choice)]
pub enum ProfileIdentifier {
    #[rasn(tag(application, 15))]
    IsdpAid(OctetTo16),
    Iccid(Iccid),
}

/// `EnableProfileRequest` (`BF31 { A0 { 4F | 5A }, 81 refreshFlag }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 49))]
pub struct EnableProfileRequest {
    #[rasn(tag(explicit(context, 0)))]
    pub profile_identifier: ProfileIdentifier,
    #[rasn(tag(context, 1))]
    pub refresh_flag: bool,
    pub extensions: Option<Extensions>,
}

/// `DisableProfileRequest` (`BF32 { A0 { 4F | 5A }, 81 refreshFlag }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 50))]
pub struct DisableProfileRequest {
    #[rasn(tag(explicit(context, 0)))]
    pub profile_identifier: ProfileIdentifier,
    #[rasn(tag(context, 1))]
    pub refresh_flag: bool,
    pub extensions: Option<Extensions>,
}

/// `DeleteProfileRequest ::= [51] CHOICE` (`BF33 { 4F | 5A }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(delegate, tag(explicit(context, 51)))]
pub struct DeleteProfileRequest(pub ProfileIdentifier);

named_integer!(
    /// Result code shared by the enable/disable/delete responses (`80`).
    ProfileOperationResult {
        ok = 0,
        iccidOrAidNotFound = 1,
        profileNotInDisabledState = 2,
        disallowedByPolicy = 3,
        wrongProfileReenabling = 4,
        catBusy = 5,
        undefinedError = 127,
    }
);

/// `EnableProfileResponse` (`BF31 { 80 result }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 49))]
pub struct EnableProfileResponse {
    #[rasn(tag(context, 0))]
    pub enable_result: ProfileOperationResult,
    pub extensions: Option<Extensions>,
}

/// `DisableProfileResponse` (`BF32 { 80 result }`); 2 means profileNotInEnabledState here.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 50))]
pub struct DisableProfileResponse {
    #[rasn(tag(context, 0))]
    pub disable_result: ProfileOperationResult,
    pub extensions: Option<Extensions>,
}

/// `DeleteProfileResponse` (`BF33 { 80 result }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 51))]
pub struct DeleteProfileResponse {
    #[rasn(tag(context, 0))]
    pub delete_result: ProfileOperationResult,
    pub extensions: Option<Extensions>,
}

/// `SetNicknameRequest` (`BF29 { 5A iccid, 90 nickname }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 41))]
pub struct SetNicknameRequest {
    pub iccid: Iccid,
    #[rasn(tag(context, 16))]
    pub profile_nickname: Utf8String,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `setNicknameResult INTEGER {ok(0), iccidNotFound(1), undefinedError(127)}`.
    SetNicknameResult {
        ok = 0,
        iccidNotFound = 1,
        undefinedError = 127,
    }
);

/// `SetNicknameResponse` (`BF29 { 80 result }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 41))]
pub struct SetNicknameResponse {
    #[rasn(tag(context, 0))]
    pub set_nickname_result: SetNicknameResult,
    pub extensions: Option<Extensions>,
}

/// `EuiccMemoryResetRequest` (`BF34 { 82 resetOptions }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 52))]
pub struct EuiccMemoryResetRequest {
    /// Bits: deleteOperationalProfiles(0), deleteFieldLoadedTestProfiles(1),
    /// resetDefaultSmdpAddress(2).
    #[rasn(tag(context, 2))]
    pub reset_options: NamedBits,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `resetResult INTEGER {ok(0), nothingToDelete(1), catBusy(5), undefinedError(127)}`.
    ResetResult {
        ok = 0,
        nothingToDelete = 1,
        catBusy = 5,
        undefinedError = 127,
    }
);

/// `EuiccMemoryResetResponse` (`BF34 { 80 result }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 52))]
pub struct EuiccMemoryResetResponse {
    #[rasn(tag(context, 0))]
    pub reset_result: ResetResult,
    pub extensions: Option<Extensions>,
}

/// `SetDefaultDpAddressRequest` (`BF3F { 80 address }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 63))]
pub struct SetDefaultDpAddressRequest {
    #[rasn(tag(context, 0))]
    pub default_dp_address: Utf8String,
    pub extensions: Option<Extensions>,
}

named_integer!(
    /// `setDefaultDpAddressResult INTEGER {ok(0), undefinedError(127)}`.
    SetDefaultDpAddressResult {
        ok = 0,
        undefinedError = 127,
    }
);

/// `SetDefaultDpAddressResponse` (`BF3F { 80 result }`).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 63))]
pub struct SetDefaultDpAddressResponse {
    #[rasn(tag(context, 0))]
    pub set_default_dp_address_result: SetDefaultDpAddressResult,
    pub extensions: Option<Extensions>,
}

/// `GetRatRequest` (`BF43 00`).
#[derive(AsnType, Decode, Encode, Debug, Clone, Default, PartialEq, Eq)]
#[rasn(tag(context, 67))]
pub struct GetRatRequest {
    pub extensions: Option<Extensions>,
}

/// `ProfilePolicyAuthorisationRule` (auto-tagged `80` pprIds, `A1` operators, `82` flags).
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
pub struct ProfilePolicyAuthorisationRule {
    #[rasn(tag(context, 0))]
    pub ppr_ids: NamedBits,
    #[rasn(tag(context, 1))]
    pub allowed_operators: Vec<OperatorId>,
    /// Bits: consentRequired(0).
    #[rasn(tag(context, 2))]
    pub ppr_flags: NamedBits,
    pub extensions: Option<Extensions>,
}

/// `GetRatResponse` (`BF43 { A0 rat }`): the Rules Authorisation Table.
#[derive(AsnType, Decode, Encode, Debug, Clone, PartialEq, Eq)]
#[rasn(tag(context, 67))]
pub struct GetRatResponse {
    #[rasn(tag(context, 0))]
    pub rat: Vec<ProfilePolicyAuthorisationRule>,
    pub extensions: Option<Extensions>,
}
