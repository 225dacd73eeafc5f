#![no_main]
//! The virtual eUICC behind its APDU interface (`veuicc::apdu::Card`), as a reader or lpac
//! drives it: a sequence of C-APDUs (split at 0xFF 0xFF) on a card with the ISD-R open on
//! channel 1 and one profile installed at manufacture.
//!
//! Checked: never a panic; every R-APDU ends with a status word; whatever arrives, the card
//! still answers GetEID correctly afterwards, and never holds two enabled profiles.

use libfuzzer_sys::fuzz_target;
use rsp_auth::Backend;
use veuicc::apdu::{Card, ISD_R_AID};
use veuicc::Euicc;

fuzz_target!(|data: &[u8]| {
    let (s, now) = smdp_sim_fuzz::card_with_profile();
    let euicc = Euicc::from_state(s, Backend::AwsLc, *now).expect("reload");
    let eid = euicc.eid();
    let mut card = Card::new(euicc, rsp_auth::rng::rng(Some(1)));
    card.set_time(Some(*now));
    card.open_logical_channel(&ISD_R_AID).expect("channel 1");
    let mut rest = data;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == [0xFF, 0xFF])
            .unwrap_or(rest.len());
        let r = card.transmit(&rest[..end]);
        assert!(r.len() >= 2, "an R-APDU always has a status word");
        rest = rest.get(end + 2..).unwrap_or_default();
    }
    let enabled = card
        .euicc
        .installed_profiles()
        .iter()
        .filter(|p| p.state == rsp_asn1::es10::ProfileState::enabled)
        .count();
    assert!(enabled <= 1);
    card.reset();
    let ch = card
        .open_logical_channel(&ISD_R_AID)
        .expect("a channel after reset");
    let r = card.transmit(&[
        0x80 | ch,
        0xE2,
        0x91,
        0x00,
        0x06,
        0xBF,
        0x3E,
        0x03,
        0x5C,
        0x01,
        0x5A,
    ]);
    assert_eq!(r, [0x61, 0x15]);
    let r = card.transmit(&[0x80 | ch, 0xC0, 0x00, 0x00, 0x15]);
    assert_eq!(&r[5..21], eid.as_bytes());
});
