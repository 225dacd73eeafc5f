//! Local profile management (ES10c enable/disable/delete), profiles installed at manufacture,
//! and the state file: each rule of SGP.22 5.7.16–5.7.18, the signed notifications each
//! operation queues (verified as the SM-DP+ verifies them), and a card that reloads byte for
//! byte.

use crate::common::*;
use rsp_asn1::bits::{notification_event, ppr_ids, NamedBits};
use rsp_asn1::es10::{
    DeleteProfileRequest, DisableProfileRequest, EnableProfileRequest, ProfileIdentifier,
    ProfileOperationResult as R, ProfileState,
};
use rsp_asn1::ids::Iccid;
use rsp_asn1::notification::{OtherSignedNotification, PendingNotification};
use rsp_auth::sig::{input, raw_signature};
use rsp_auth::{Backend, Curve};
use veuicc::state::CardState;
use veuicc::{Euicc, Preinstalled};

const SMDP: &str = "smdp.example:8443";

fn package(n: u32) -> (Vec<u8>, String) {
    let payload = format!("890010100000000{n:04}");
    let iccid = format!("{payload}{}", rsp_asn1::ids::luhn_check_digit(&payload));
    let der = rsp_saip::generate::MinimalUsim {
        iccid: iccid.clone(),
        imsi: format!("00101000000{n:04}"),
        ..Default::default()
    }
    .build()
    .unwrap()
    .to_der();
    (der, iccid)
}

fn card_with(profiles: &[(u32, bool)]) -> (Euicc, Vec<String>) {
    let mut card = Euicc::from_pki(&our_pki(), Curve::NistP256, Backend::AwsLc, now()).unwrap();
    let mut iccids = Vec::new();
    for &(n, enabled) in profiles {
        let (der, iccid) = package(n);
        card.preinstall(Preinstalled {
            package: der,
            service_provider_name: "Op".into(),
            profile_name: format!("p{n}"),
            notification_address: Some(SMDP.into()),
            enabled,
        })
        .unwrap();
        iccids.push(iccid);
    }
    (card, iccids)
}

fn id(iccid: &str) -> ProfileIdentifier {
    ProfileIdentifier::Iccid(Iccid::from_digits(iccid).unwrap())
}

fn enable(card: &mut Euicc, iccid: &str) -> R {
    card.enable_profile(&EnableProfileRequest {
        profile_identifier: id(iccid),
        refresh_flag: false,
        extensions: None,
    })
    .enable_result
}

fn disable(card: &mut Euicc, iccid: &str) -> R {
    card.disable_profile(&DisableProfileRequest {
        profile_identifier: id(iccid),
        refresh_flag: false,
        extensions: None,
    })
    .disable_result
}

fn delete(card: &mut Euicc, iccid: &str) -> R {
    card.delete_profile(&DeleteProfileRequest(id(iccid)))
        .delete_result
}

fn state_of(card: &Euicc, iccid: &str) -> Option<ProfileState> {
    card.installed_profiles()
        .iter()
        .find(|p| p.header.iccid_digits() == iccid)
        .map(|p| p.state)
}

/// (operation bit, ICCID, seqNumber) of each pending notification, each verified as the
/// SM-DP+ does: over the wire, the signature over the raw BF2F with the attached CERT.EUICC.
fn verified(card: &Euicc) -> Vec<(usize, String, i64)> {
    card.pending_notifications()
        .iter()
        .map(|n| {
            let wire = rsp_asn1::encode(n).unwrap();
            let PendingNotification::OtherSignedNotification(o) =
                rsp_asn1::decode::<PendingNotification>(&wire).unwrap()
            else {
                panic!("not an OtherSignedNotification")
            };
            check_signature(card, &o);
            let m = o.tbs_other_notification.value();
            assert_eq!(m.notification_address.to_string(), SMDP);
            let bits: Vec<usize> = (0..4)
                .filter(|b| m.profile_management_operation.is_set(*b))
                .collect();
            assert_eq!(bits.len(), 1, "exactly one operation bit");
            (
                bits[0],
                m.iccid.as_ref().unwrap().digits().unwrap(),
                m.seq_number,
            )
        })
        .collect()
}

fn check_signature(card: &Euicc, o: &OtherSignedNotification) {
    assert_eq!(o.tbs_other_notification.raw()[..2], [0xBF, 0x2F]);
    assert_eq!(o.euicc_certificate.as_der(), card.euicc_certificate().der());
    let sig = raw_signature(&o.euicc_notification_signature).unwrap();
    card.public_key()
        .verify_raw(
            input::euicc_notification(&o.tbs_other_notification),
            &sig,
            Backend::RustCrypto,
        )
        .expect("euiccNotificationSignature verifies");
}

#[test]
fn enable_disable_delete_follow_sgp22_5_7_16_to_18_and_notify() {
    use notification_event::{DELETE, DISABLE, ENABLE};
    let (mut card, iccids) = card_with(&[(1, true), (2, false)]);
    let (a, b) = (iccids[0].as_str(), iccids[1].as_str());
    assert!(
        card.pending_notifications().is_empty(),
        "manufacture notifies nothing"
    );

    // Wrong states and unknown profiles change nothing and queue nothing.
    assert_eq!(enable(&mut card, a), R::profileNotInDisabledState);
    assert_eq!(disable(&mut card, b), R::profileNotInDisabledState);
    assert_eq!(delete(&mut card, a), R::profileNotInDisabledState);
    let unknown = package(9).1;
    assert_eq!(enable(&mut card, &unknown), R::iccidOrAidNotFound);
    assert_eq!(disable(&mut card, &unknown), R::iccidOrAidNotFound);
    assert_eq!(delete(&mut card, &unknown), R::iccidOrAidNotFound);
    assert!(card.pending_notifications().is_empty());
    assert!(card.last_error().unwrap().contains("DeleteProfile"));

    // Enabling b disables a first: two notifications, in order, seqNumbers increasing.
    assert_eq!(enable(&mut card, b), R::ok);
    assert_eq!(state_of(&card, a), Some(ProfileState::disabled));
    assert_eq!(state_of(&card, b), Some(ProfileState::enabled));
    assert_eq!(
        verified(&card),
        [(DISABLE, a.to_string(), 1), (ENABLE, b.to_string(), 2)]
    );
    // By ISD-P AID too.
    let aid = card.installed_profiles()[1].isdp_aid.clone();
    let r = card.disable_profile(&DisableProfileRequest {
        profile_identifier: ProfileIdentifier::IsdpAid(aid),
        refresh_flag: true,
        extensions: None,
    });
    assert_eq!(r.disable_result, R::ok);
    assert_eq!(delete(&mut card, a), R::ok);
    assert_eq!(state_of(&card, a), None, "deleted");
    let got = verified(&card);
    assert_eq!(got[2..], [(DISABLE, b.into(), 3), (DELETE, a.into(), 4)]);
    // The freed ISD-P slot is reused by the next profile.
    let (der, _) = package(3);
    let p = card
        .preinstall(Preinstalled {
            package: der,
            service_provider_name: "Op".into(),
            profile_name: "p3".into(),
            notification_address: None,
            enabled: false,
        })
        .unwrap();
    assert_eq!(p.isdp_aid.0[14], 0x10, "slot 0 again");
    // A profile without notification configuration notifies nothing.
    let c = card.installed_profiles()[1].header.iccid_digits();
    assert_eq!(enable(&mut card, &c), R::ok);
    assert_eq!(verified(&card).len(), 4);
}

#[test]
fn profile_policy_rules_refuse_with_disallowed_by_policy() {
    let (mut card, iccids) = card_with(&[(1, true), (2, false)]);
    let (a, b) = (iccids[0].clone(), iccids[1].clone());
    // PPR1 on the enabled profile: it can be neither disabled nor replaced.
    let mut state = card.to_state();
    let meta_with = |state: &CardState, i: usize, ppr: usize| {
        let der = hex::decode(&state.profiles[i].metadata).unwrap();
        let mut m: rsp_asn1::download::StoreMetadataRequest = rsp_asn1::decode(&der).unwrap();
        m.profile_policy_rules = Some(NamedBits::from_bits(&[ppr]));
        hex::encode_upper(rsp_asn1::encode(&m).unwrap())
    };
    state.profiles[0].metadata = meta_with(&state, 0, ppr_ids::PPR1);
    state.profiles[1].metadata = meta_with(&state, 1, ppr_ids::PPR2);
    card = Euicc::from_state(&state, Backend::AwsLc, now()).unwrap();
    assert_eq!(disable(&mut card, &a), R::disallowedByPolicy);
    assert_eq!(enable(&mut card, &b), R::disallowedByPolicy);
    assert_eq!(state_of(&card, &a), Some(ProfileState::enabled));
    // PPR2 on the disabled profile: it cannot be deleted.
    assert_eq!(delete(&mut card, &b), R::disallowedByPolicy);
    assert_eq!(state_of(&card, &b), Some(ProfileState::disabled));
    assert!(card.pending_notifications().is_empty());
}

#[test]
fn the_state_file_reloads_the_same_card() {
    let (mut card, iccids) = card_with(&[(1, true), (2, false)]);
    assert_eq!(enable(&mut card, &iccids[1]), R::ok);
    let state = card.to_state();
    let json = serde_json::to_string(&state).unwrap();
    let back: CardState = serde_json::from_str(&json).unwrap();
    let reloaded = Euicc::from_state(&back, Backend::AwsLc, now()).unwrap();
    assert_eq!(reloaded.to_state(), state, "byte for byte");
    assert_eq!(reloaded.eid(), card.eid());
    assert_eq!(reloaded.profile_info_list(), card.profile_info_list());
    assert_eq!(reloaded.list_notifications(), card.list_notifications());
    // The counter survives: the next notification continues the sequence.
    let mut reloaded = reloaded;
    assert_eq!(disable(&mut reloaded, &iccids[1]), R::ok);
    assert_eq!(reloaded.list_notifications().last().unwrap().seq_number, 3);

    // Broken files are refused with the field named, never a card.
    let broken = |f: &dyn Fn(&mut CardState)| {
        let mut s = state.clone();
        f(&mut s);
        match Euicc::from_state(&s, Backend::AwsLc, now()) {
            Ok(_) => panic!("accepted: {s:?}"),
            Err(e) => e.to_string(),
        }
    };
    assert!(broken(&|s| s.format = "v0".into()).contains("format"));
    assert!(broken(&|s| s.sk_euicc = "00".repeat(32)).contains("key"));
    assert!(broken(&|s| s.profiles[0].metadata = "BF25".into()).contains("profiles[0].metadata"));
    assert!(broken(&|s| s.profiles[1].package = "zz".into()).contains("profiles[1].package"));
    assert!(broken(&|s| s.profiles[0].smdp_oid = vec![7]).contains("smdp_oid"));
    assert!(broken(&|s| s.notifications[0] = "3000".into()).contains("notifications[0]"));
    assert!(broken(&|s| s.profiles[0].enabled = true).contains("more than one enabled"));
    let other = Euicc::from_pki(&our_pki(), Curve::BrainpoolP256r1, Backend::AwsLc, now())
        .unwrap()
        .to_state();
    assert!(broken(&|s| s.sk_euicc = other.sk_euicc.clone()).contains("SK.EUICC"));
}

#[test]
fn preinstall_refuses_duplicates_two_enabled_and_bad_packages() {
    let (mut card, _) = card_with(&[(1, true)]);
    let again = |card: &mut Euicc, n, enabled, package: Option<Vec<u8>>| {
        card.preinstall(Preinstalled {
            package: package.unwrap_or_else(|| self::package(n).0),
            service_provider_name: String::new(),
            profile_name: String::new(),
            notification_address: None,
            enabled,
        })
        .map(|_| ())
    };
    assert!(again(&mut card, 1, false, None).is_err(), "same ICCID");
    assert!(again(&mut card, 2, true, None).is_err(), "a second enabled");
    assert!(again(&mut card, 3, false, Some(vec![0x30, 0x00])).is_err());
    assert!(again(&mut card, 4, false, None).is_ok());
    assert_eq!(card.installed_profiles().len(), 2);
}
