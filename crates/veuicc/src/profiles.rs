//! Local profile management (ES10c EnableProfile, DisableProfile, DeleteProfile; SGP.22
//! 5.7.16–5.7.18) and profiles installed at manufacture.
//!
//! Each operation that succeeds queues an OtherSignedNotification for every
//! notificationConfigurationInfo entry of the profile's metadata that names the operation
//! (SGP.22 3.5 and 5.7.19: one notification per configured address, seqNumber eUICC-global,
//! signed with SK.EUICC over the NotificationMetadata TLV and carrying CERT.EUICC and CERT.EUM
//! so the receiver needs no session).
//!
//! Profile policy rules: PPR1 ("disabling not allowed") refuses disabling the profile, and
//! enabling another one while it is enabled (that would disable it); PPR2 ("deletion not
//! allowed") refuses deleting it. Both answer `disallowedByPolicy` (SGP.22 2.9.2.1).
//! One profile is enabled at a time (no MEP): enabling one first disables the enabled one.

use rsp_asn1::bits::{notification_event, ppr_ids, NamedBits};
use rsp_asn1::download::{
    ConfigureISDPRequest, NotificationConfigurationInformation, StoreMetadataRequest,
};
use rsp_asn1::es10::{
    DeleteProfileRequest, DeleteProfileResponse, DisableProfileRequest, DisableProfileResponse,
    EnableProfileRequest, EnableProfileResponse, ProfileIdentifier, ProfileOperationResult,
    ProfileState,
};
use rsp_asn1::ids::Iccid;
use rsp_asn1::notification::{NotificationMetadata, OtherSignedNotification, PendingNotification};
use rsp_asn1::raw::Signed;
use rsp_asn1::ObjectIdentifier;
use rsp_auth::sig::input;

use crate::euicc::{Euicc, InstalledProfile};
use crate::Error;

/// A profile written at manufacture: no download, no SM-DP+ session.
#[derive(Debug, Clone)]
pub struct Preinstalled {
    /// The personalised profile package (SAIP DER); its header's ICCID is the profile's.
    pub package: Vec<u8>,
    pub service_provider_name: String,
    pub profile_name: String,
    /// Where enable, disable and delete notifications go (an SM-DP+ address); `None` for no
    /// notifications.
    pub notification_address: Option<String>,
    /// Enabled (the card's operational profile) or disabled.
    pub enabled: bool,
}

/// No SM-DP+ installed a factory profile: its `smdpOid` is the X.660 example arc 2.999.
pub const FACTORY_OID: [u32; 2] = [2, 999];

/// SGP.22 5.7.16: `EnableProfileResponse` 2 is profileNotInDisabledState; 5.7.17 reuses the
/// code for profileNotInEnabledState.
const WRONG_STATE: ProfileOperationResult = ProfileOperationResult::profileNotInDisabledState;

impl Euicc {
    /// Installs a profile as the factory does: the package validated, the metadata built from
    /// `p` (operational class; enable/disable/delete notifications to `p.notification_address`),
    /// in the next free ISD-P. An ICCID already on the card, a full card, or an enabled profile
    /// while another one is enabled is an error.
    pub fn preinstall(&mut self, p: Preinstalled) -> Result<&InstalledProfile, Error> {
        let package = rsp_saip::ProfilePackage::parse(&p.package)
            .map_err(|e| Error::Identity(format!("pre-installed package: {e}")))?;
        let header = package
            .validate()
            .map_err(|e| Error::Identity(format!("pre-installed package: {e}")))?;
        let iccid = Iccid::from_digits(&header.iccid_digits())?;
        if self.profiles.iter().any(|x| x.iccid == iccid) {
            return Err(Error::Identity(format!(
                "ICCID {} is already on this eUICC",
                header.iccid_digits()
            )));
        }
        if p.enabled
            && self
                .profiles
                .iter()
                .any(|x| x.state == ProfileState::enabled)
        {
            return Err(Error::Identity(
                "another profile is enabled: one enabled profile at a time".into(),
            ));
        }
        let isdp_aid = self
            .free_isdp_aid()
            .ok_or_else(|| Error::Identity("no free ISD-P slot".into()))?;
        let metadata = StoreMetadataRequest {
            iccid: iccid.clone(),
            service_provider_name: p.service_provider_name,
            profile_name: p.profile_name,
            icon_type: None,
            icon: None,
            profile_class: rsp_asn1::download::ProfileClass::operational,
            notification_configuration_info: p.notification_address.map(|a| {
                vec![NotificationConfigurationInformation {
                    profile_management_operation: NamedBits::from_bits(&[
                        notification_event::ENABLE,
                        notification_event::DISABLE,
                        notification_event::DELETE,
                    ]),
                    notification_address: a.clone(),
                    extensions: None,
                }]
            }),
            profile_owner: None,
            profile_policy_rules: None,
            ecall_indication: None,
            fallback_allowed: None,
            extensions: None,
        };
        let metadata_der = rsp_asn1::encode(&metadata)?;
        let address = metadata
            .notification_configuration_info
            .as_ref()
            .and_then(|c| c.first())
            .map(|c| c.notification_address.to_string())
            .unwrap_or_default();
        self.profiles.push(InstalledProfile {
            iccid,
            isdp_aid,
            state: if p.enabled {
                ProfileState::enabled
            } else {
                ProfileState::disabled
            },
            metadata,
            metadata_der,
            configure_isdp: ConfigureISDPRequest::default(),
            smdp_oid: ObjectIdentifier::new_unchecked(FACTORY_OID.to_vec().into()),
            smdp_address: address,
            package: p.package,
            header,
            nickname: None,
        });
        Ok(self.profiles.last().expect("just pushed"))
    }

    fn find(&self, id: &ProfileIdentifier) -> Option<usize> {
        self.profiles.iter().position(|p| match id {
            ProfileIdentifier::Iccid(i) => &p.iccid == i,
            ProfileIdentifier::IsdpAid(a) => &p.isdp_aid == a,
        })
    }

    fn has_ppr(&self, i: usize, ppr: usize) -> bool {
        self.profiles[i]
            .metadata
            .profile_policy_rules
            .as_ref()
            .is_some_and(|r| r.is_set(ppr))
    }

    /// ES10c EnableProfile (SGP.22 5.7.16). The enabled profile, if any, is disabled first
    /// (with its disable notification); refreshFlag has no effect on a virtual card.
    pub fn enable_profile(&mut self, req: &EnableProfileRequest) -> EnableProfileResponse {
        let result = self.enable(&req.profile_identifier);
        if result != ProfileOperationResult::ok {
            self.refuse("EnableProfile", format_args!("{result:?}"));
        }
        EnableProfileResponse {
            enable_result: result,
            extensions: None,
        }
    }

    fn enable(&mut self, id: &ProfileIdentifier) -> ProfileOperationResult {
        let Some(i) = self.find(id) else {
            return ProfileOperationResult::iccidOrAidNotFound;
        };
        if self.profiles[i].state == ProfileState::enabled {
            return WRONG_STATE;
        }
        let current = self
            .profiles
            .iter()
            .position(|p| p.state == ProfileState::enabled);
        if let Some(c) = current {
            if self.has_ppr(c, ppr_ids::PPR1) {
                return ProfileOperationResult::disallowedByPolicy;
            }
        }
        if let Some(c) = current {
            self.profiles[c].state = ProfileState::disabled;
            if self.notify(c, notification_event::DISABLE).is_err() {
                return ProfileOperationResult::undefinedError;
            }
        }
        self.profiles[i].state = ProfileState::enabled;
        match self.notify(i, notification_event::ENABLE) {
            Ok(()) => ProfileOperationResult::ok,
            Err(_) => ProfileOperationResult::undefinedError,
        }
    }

    /// ES10c DisableProfile (SGP.22 5.7.17).
    pub fn disable_profile(&mut self, req: &DisableProfileRequest) -> DisableProfileResponse {
        let result = match self.find(&req.profile_identifier) {
            None => ProfileOperationResult::iccidOrAidNotFound,
            Some(i) if self.profiles[i].state != ProfileState::enabled => WRONG_STATE,
            Some(i) if self.has_ppr(i, ppr_ids::PPR1) => ProfileOperationResult::disallowedByPolicy,
            Some(i) => {
                self.profiles[i].state = ProfileState::disabled;
                match self.notify(i, notification_event::DISABLE) {
                    Ok(()) => ProfileOperationResult::ok,
                    Err(_) => ProfileOperationResult::undefinedError,
                }
            }
        };
        if result != ProfileOperationResult::ok {
            self.refuse("DisableProfile", format_args!("{result:?}"));
        }
        DisableProfileResponse {
            disable_result: result,
            extensions: None,
        }
    }

    /// ES10c DeleteProfile (SGP.22 5.7.18): only a disabled profile; its ISD-P is freed and the
    /// delete notification queued from its metadata.
    pub fn delete_profile(&mut self, req: &DeleteProfileRequest) -> DeleteProfileResponse {
        let result = match self.find(&req.0) {
            None => ProfileOperationResult::iccidOrAidNotFound,
            Some(i) if self.profiles[i].state == ProfileState::enabled => WRONG_STATE,
            Some(i) if self.has_ppr(i, ppr_ids::PPR2) => ProfileOperationResult::disallowedByPolicy,
            Some(i) => match self.notify(i, notification_event::DELETE) {
                Ok(()) => {
                    self.profiles.remove(i);
                    ProfileOperationResult::ok
                }
                Err(_) => ProfileOperationResult::undefinedError,
            },
        };
        if result != ProfileOperationResult::ok {
            self.refuse("DeleteProfile", format_args!("{result:?}"));
        }
        DeleteProfileResponse {
            delete_result: result,
            extensions: None,
        }
    }

    /// Deletes a profile whatever its state and rules (eUICCMemoryReset), with its delete
    /// notifications. SGP.22 5.7.19 does not say whether a reset notifies; this card does,
    /// so the SM-DP+ learns the profile is gone.
    pub(crate) fn force_delete(&mut self, iccid: &Iccid) {
        if let Some(i) = self.profiles.iter().position(|p| &p.iccid == iccid) {
            // A signing failure still deletes: the reset must not leave the profile.
            let _ = self.notify(i, notification_event::DELETE);
            self.profiles.remove(i);
        }
    }

    /// Queues one signed notification of `event` per configured address of profile `i`.
    fn notify(&mut self, i: usize, event: usize) -> Result<(), Error> {
        let addresses: Vec<String> = self.profiles[i]
            .metadata
            .notification_configuration_info
            .iter()
            .flatten()
            .filter(|c| c.profile_management_operation.is_set(event))
            .map(|c| c.notification_address.to_string())
            .collect();
        let iccid = self.profiles[i].iccid.clone();
        for address in addresses {
            let seq_number = self.next_seq_number();
            let tbs = Signed::new(NotificationMetadata {
                seq_number,
                profile_management_operation: NamedBits::from_bits(&[event]),
                notification_address: address,
                iccid: Some(iccid.clone()),
                extensions: None,
            })?;
            let sig = self.sign(input::euicc_notification(&tbs))?;
            self.notifications
                .push(PendingNotification::OtherSignedNotification(
                    OtherSignedNotification {
                        tbs_other_notification: tbs,
                        euicc_notification_signature: sig.to_vec().into(),
                        euicc_certificate: self.euicc_certificate.clone(),
                        eum_certificate: self.eum_certificate.clone(),
                        extensions: None,
                    },
                ));
            self.last_seq_number = seq_number;
        }
        Ok(())
    }
}
