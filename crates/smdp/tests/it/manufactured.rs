//! A card manufactured with a pre-installed profile (`smdp euicc manufacture`) from the same
//! batch row the operator imported: the card's profile is the API's `installed` ESimProfile
//! (ICCID, IMSI, Ki, OPc), and its enable/disable/delete notifications, sent over ES9+, are
//! recorded against that profile, once each.

use std::time::Duration;

use crate::cli::{smdp, stdout};
use crate::common::*;
use rsp_asn1::ids::Eid;
use rsp_auth::Backend;
use serde_json::Value;
use veuicc::state::CardState;
use veuicc::Euicc;

fn card(path: &std::path::Path, server: &TestServer) -> Euicc {
    let state: CardState = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    Euicc::from_state(&state, Backend::AwsLc, server.clock.now()).unwrap()
}

async fn notifications(rest: &Rest, sid: &str, n: usize) -> Value {
    let mut v = Value::Null;
    for _ in 0..200 {
        v = rest
            .get(&format!("/v1/ESimProfiles/{sid}/Notifications"))
            .await
            .1;
        if v["notifications"].as_array().is_some_and(|a| a.len() >= n) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{n} notifications never recorded: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manufactured_card_matches_the_api_and_its_notifications_are_recorded() {
    let server = TestServer::start(Options::default()).await;
    let acct = server.account("factory");
    let rest = Rest::basic(server.rest(), &acct.account_sid, &acct.auth_token);
    // An EID our test EUM may issue (prefix 89001012), ICCID with its Luhn digit.
    let eid = Eid::with_check_digits("890010120000000000000000004242").unwrap();
    let payload = "8900101000000077001";
    let iccid = format!("{payload}{}", rsp_asn1::ids::luhn_check_digit(payload));
    let (ki, opc) = (
        "0123456789ABCDEF0123456789ABCDEF",
        "FEDCBA9876543210FEDCBA9876543210",
    );
    let dir = std::env::temp_dir().join(format!("smdp-factory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let batch = dir.join("batch.csv");
    let csv = format!("eid,iccid,imsi,ki,opc,spn\n{eid},{iccid},001010000077001,{ki},{opc},Lab\n");
    std::fs::write(&batch, &csv).unwrap();
    let (s, _, v) = rest
        .request(
            "POST",
            "/v1/ESimProfiles/Import",
            "text/csv",
            csv.into_bytes(),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let sid = v["esim_profile_sids"][0].as_str().unwrap().to_string();

    // The same row, manufactured into a card.
    let state = dir.join("card.json");
    let o = smdp(
        &[
            "euicc",
            "manufacture",
            batch.to_str().unwrap(),
            "--row",
            "1",
            "--pki",
            our_pki_dir().to_str().unwrap(),
            "--notify",
            &server.smdp.address,
            "--out",
            state.to_str().unwrap(),
            "--seed",
            "7",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout(&o).contains(&format!("eid:    {eid}")),
        "{}",
        stdout(&o)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the state file holds SK.EUICC");
    }
    let c = card(&state, &server);
    assert_eq!(c.eid(), eid);
    let info = c.profile_info_list();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].iccid.as_ref().unwrap().digits().unwrap(), iccid);
    assert_eq!(
        info[0].profile_state,
        Some(rsp_asn1::es10::ProfileState::enabled)
    );
    let keys = rsp_saip::package::ProfilePackage::parse(&c.installed_profiles()[0].package)
        .unwrap()
        .aka_keys();
    assert_eq!(
        (hex::encode_upper(keys[0].0), hex::encode_upper(keys[0].1)),
        (ki.to_string(), opc.to_string())
    );
    let (_, p) = rest.get(&format!("/v1/ESimProfiles/{sid}")).await;
    assert_eq!(
        (p["status"].as_str(), p["eid"].as_str()),
        (Some("installed"), Some(eid.to_string().as_str()))
    );
    assert_eq!(p["iccid"], iccid.as_str());

    // Disable on the card; the notification goes to the SM-DP+ and lands on the profile.
    let run = |cmd: &str| {
        let o = smdp(
            &["euicc", cmd, "--state", state.to_str().unwrap(), &iccid],
            None,
        );
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run("disable");
    let lpa = Lpa::with_euicc(&server, card(&state, &server));
    let pending = lpa.euicc.pending_notifications().to_vec();
    assert_eq!(pending.len(), 1);
    lpa.notify(&pending[0]).await;
    let v = notifications(&rest, &sid, 1).await;
    let n = &v["notifications"][0];
    assert_eq!(
        (n["operation"].as_str(), n["seq_number"].as_i64()),
        (Some("disable"), Some(1))
    );
    assert_eq!(n["eid"], eid.to_string().as_str());
    assert_eq!(n["iccid"], iccid.as_str());
    // A replay is acknowledged and recorded nothing.
    lpa.notify(&pending[0]).await;
    // Disabling again is refused by the card and queues nothing.
    let o = smdp(
        &[
            "euicc",
            "disable",
            "--state",
            state.to_str().unwrap(),
            &iccid,
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("profileNotInDisabledState"));
    run("delete");
    let lpa = Lpa::with_euicc(&server, card(&state, &server));
    assert!(lpa.euicc.installed_profiles().is_empty());
    let pending = lpa.euicc.pending_notifications().to_vec();
    assert_eq!(pending.len(), 2, "disable (not yet removed) and delete");
    for n in &pending {
        lpa.notify(n).await;
    }
    let v = notifications(&rest, &sid, 2).await;
    let ops: Vec<(&str, i64)> = v["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["operation"].as_str().unwrap(),
                n["seq_number"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ops, [("disable", 1), ("delete", 2)]);
    let o = smdp(&["euicc", "show", "--state", state.to_str().unwrap()], None);
    assert!(
        stdout(&o).contains("notification 2  delete"),
        "{}",
        stdout(&o)
    );
    // Another account sees none of it.
    let other = server.account("other");
    let rest2 = Rest::basic(server.rest(), &other.account_sid, &other.auth_token);
    let (s, _) = rest2
        .get(&format!("/v1/ESimProfiles/{sid}/Notifications"))
        .await;
    assert_eq!(s, 404);

    // An EID the EUM may not issue is refused before anything is written.
    let foreign = Eid::with_check_digits("890490321234512345123456789012").unwrap();
    std::fs::write(
        &batch,
        format!("eid,iccid,imsi,ki,opc\n{foreign},{iccid},001010000077001,{ki},{opc}\n"),
    )
    .unwrap();
    let out2 = dir.join("card2.json");
    let o = smdp(
        &[
            "euicc",
            "manufacture",
            batch.to_str().unwrap(),
            "--pki",
            our_pki_dir().to_str().unwrap(),
            "--notify",
            "x",
            "--out",
            out2.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("outside the EUM"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out2.exists());
    let _ = std::fs::remove_dir_all(&dir);
    server.stop().await;
}
