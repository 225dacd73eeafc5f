#![no_main]
//! lpac's stdio APDU driver, card side (`veuicc_cli::driver::serve`): arbitrary lines where lpac
//! sends one JSON request per line, on a card with one profile installed at manufacture.
//!
//! Checked: never a panic or an I/O error; every reply is one JSON line of type `apdu` (with
//! an integer `ecode`) or `http`, at most one per input line; whatever arrives, the card never
//! holds two enabled profiles.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rsp_auth::Backend;
use veuicc::apdu::Card;
use veuicc::state::{CardState, StateFile};
use veuicc::Euicc;

struct Fixture {
    state: CardState,
    now: std::time::SystemTime,
    file: std::path::PathBuf,
}

fn fixture() -> &'static Fixture {
    static S: OnceLock<Fixture> = OnceLock::new();
    S.get_or_init(|| {
        let (state, now) = smdp_sim_fuzz::card_with_profile();
        // tmpfs where there is one: the driver writes the card's state after each command.
        let shm = std::path::Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let folder = tmp.join(format!("smdp-fuzz-lpac-{}", std::process::id()));
        std::fs::create_dir_all(&folder).expect("temp folder");
        Fixture {
            state: state.clone(),
            now: *now,
            file: folder.join("card.json"),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let euicc = Euicc::from_state(&f.state, Backend::AwsLc, f.now).expect("reload");
    let _ = std::fs::remove_file(&f.file);
    let mut state = StateFile::create(&f.file, &euicc).expect("state file");
    let mut card = Card::new(euicc, rsp_auth::rng::rng(Some(1)));
    card.set_time(Some(f.now));
    let mut out = Vec::new();
    let mut log = Vec::new();
    veuicc_cli::driver::serve(&mut card, &mut state, data, &mut out, &mut log)
        .or_else(|e| {
            // Only a line that is not UTF-8 ends the stream (BufRead::lines).
            if e.kind() == std::io::ErrorKind::InvalidData {
                Ok(())
            } else {
                Err(e)
            }
        })
        .expect("serve");
    let lines = data.split(|b| *b == b'\n').count();
    let replies: Vec<&[u8]> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert!(replies.len() <= lines, "more replies than requests");
    for r in replies {
        let v: serde_json::Value = serde_json::from_slice(r).expect("a reply is JSON");
        match v["type"].as_str() {
            Some("apdu") => assert!(v["payload"]["ecode"].is_i64(), "{v}"),
            Some("http") => assert!(v["payload"]["rcode"].is_i64(), "{v}"),
            _ => panic!("reply of no known type: {v}"),
        }
    }
    let enabled = card
        .euicc
        .installed_profiles()
        .iter()
        .filter(|p| p.state == rsp_asn1::es10::ProfileState::enabled)
        .count();
    assert!(enabled <= 1);
});
