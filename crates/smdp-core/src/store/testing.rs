//! The store conformance suite: what every backend MUST do, as tests a backend runs against a
//! fresh store of its own (`store_conformance_tests!(|| Box::new(MyStore::new()))`).

use crate::orders::{activation_code, reserve, OrderRequest};
use crate::store::*;
use rsp_asn1::ids::ActivationCode;
use rsp_saip::NumberPlan;

/// An order as the cases insert it (`AC0`, minimal template, two attempts).
pub fn order(sid: &str, iccid: &str) -> NewProfile {
    NewProfile {
        sid: sid.into(),
        account_sid: "AC0".into(),
        iccid: Some(iccid.into()),
        template: "minimal".into(),
        service_provider_name: "sp".into(),
        profile_name: "p".into(),
        max_attempts: 2,
        ..Default::default()
    }
}

/// A valid EID per name ("E1", "E2", …).
fn e(name: &str) -> Eid {
    let n: u32 = name.trim_start_matches('E').parse().unwrap_or(0);
    Eid::with_check_digits(&format!("8904903212345123451234{n:08}")).expect("EID")
}

/// A transaction ID per name ("T1", …): its bytes.
fn t(name: &str) -> TransactionId {
    TransactionId::new(name.as_bytes().to_vec()).expect("transaction ID")
}

fn binding(eid: &str, txid: &str) -> Binding {
    Binding {
        eid: e(eid),
        txid: t(txid),
        otpk: vec![4; 65],
        otsk: vec![1; 32],
        smdp_sign: vec![0x5A; 64],
        euicc_cert: vec![0x30, 0],
    }
}

fn new_binding(status: ProfileStatus, bound_txid: Option<&str>) -> BindFrom {
    BindFrom {
        status,
        bound_txid: bound_txid.map(t),
        new_binding: true,
    }
}

pub fn binding_is_won_once_and_attempts_are_capped(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    use ProfileStatus::{Available, Downloaded};
    let s = make();
    let p = s.insert_profile(&order("HP1", "1"), 10).unwrap();
    let fresh = new_binding(Available, None);
    assert!(s.bind(p.id, &binding("E1", "T1"), &fresh, 11).unwrap());
    assert!(
        !s.bind(p.id, &binding("E2", "T2"), &fresh, 11).unwrap(),
        "second binder from the same read loses"
    );
    let got = s.profile(p.id).unwrap().unwrap();
    assert_eq!(got.status, Downloaded);
    assert_eq!(got.eid, Some(e("E1")));
    assert_eq!(s.profile_by_bound_txid(&t("T1")).unwrap().unwrap().id, p.id);
    assert_eq!(got.bound_smdp_sign, Some(vec![0x5A; 64]));
    // Postponed: back to available, the binding kept (and still bound to E1).
    assert!(
        !s.unbind_session(p.id, &t("T0"), 12).unwrap(),
        "not its binding"
    );
    assert!(s.unbind_session(p.id, &t("T1"), 12).unwrap());
    let got = s.profile(p.id).unwrap().unwrap();
    assert_eq!(got.status, Available);
    assert!(got.kept_binding_for(&e("E1")) && !got.kept_binding_for(&e("E2")));
    // Another EID never binds it; a stale read never binds it.
    let kept = new_binding(Available, Some("T1"));
    assert!(!s.bind(p.id, &binding("E2", "T3"), &kept, 13).unwrap());
    assert!(!s.bind(p.id, &binding("E1", "T3"), &fresh, 13).unwrap());
    // A retry with the kept keys costs no attempt; a rebinding does, up to max_attempts.
    let retry = BindFrom {
        new_binding: false,
        ..kept.clone()
    };
    assert!(s.bind(p.id, &binding("E1", "T3"), &retry, 13).unwrap());
    assert_eq!(s.profile(p.id).unwrap().unwrap().attempts, 1);
    let rebind = new_binding(Downloaded, Some("T3"));
    assert!(s.bind(p.id, &binding("E1", "T4"), &rebind, 14).unwrap());
    assert_eq!(s.profile(p.id).unwrap().unwrap().attempts, 2);
    let again = new_binding(Downloaded, Some("T4"));
    assert!(
        !s.bind(p.id, &binding("E1", "T5"), &again, 15).unwrap(),
        "attempts exhausted"
    );
    // Every binding's transaction ID still leads to the order.
    for t in ["T1", "T3", "T4"] {
        assert_eq!(
            s.profile_by_binding_txid(&self::t(t)).unwrap().unwrap().id,
            p.id
        );
    }
    assert!(s.profile_by_binding_txid(&t("T5")).unwrap().is_none());
    // otSK.DP is kept while a BPP resend may need it, and erased with the order's close,
    // whether installed or failed.
    assert_eq!(
        s.profile(p.id).unwrap().unwrap().bound_otsk,
        Some(vec![1; 32])
    );
    assert!(s
        .set_status(p.id, &[Downloaded], ProfileStatus::Installed, None, 16)
        .unwrap());
    let got = s.profile(p.id).unwrap().unwrap();
    assert_eq!((got.bound_otsk, got.bound_otpk), (None, Some(vec![4; 65])));
    let q = s.insert_profile(&order("HP2", "2"), 10).unwrap();
    assert!(s.bind(q.id, &binding("E2", "T6"), &fresh, 11).unwrap());
    assert!(s
        .set_status(
            q.id,
            &[Downloaded],
            ProfileStatus::Failed,
            Some((1, "x")),
            17
        )
        .unwrap());
    assert_eq!(s.profile(q.id).unwrap().unwrap().bound_otsk, None);
}

pub fn held_orders_are_released_once(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    let held = s
        .insert_profile(
            &NewProfile {
                status: Some(ProfileStatus::Reserving),
                unreleased: true,
                ..order("HP1", "1")
            },
            0,
        )
        .unwrap();
    assert!(!held.released);
    assert!(s.release_order(held.id, 1).unwrap());
    let p = s.profile(held.id).unwrap().unwrap();
    assert!(p.released);
    assert_eq!(p.status, ProfileStatus::Available);
    assert!(!s.release_order(held.id, 2).unwrap(), "released once");
    s.set_meta("address", "a:1").unwrap();
    s.set_meta("address", "b:2").unwrap();
    assert_eq!(s.meta("address").unwrap().as_deref(), Some("b:2"));
    assert_eq!(s.meta("other").unwrap(), None);
}

pub fn confirmation_code_failures_are_the_orders(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    let a = s.insert_profile(&order("HP1", "1"), 0).unwrap();
    let b = s.insert_profile(&order("HP2", "2"), 0).unwrap();
    assert_eq!(s.record_cc_failure(a.id, 1).unwrap(), 1);
    assert_eq!(s.record_cc_failure(a.id, 2).unwrap(), 2);
    assert_eq!(
        s.record_cc_failure(b.id, 3).unwrap(),
        1,
        "counted per order"
    );
    assert_eq!(s.record_cc_failure(a.id, 4).unwrap(), 3);
    assert_eq!(s.profile(a.id).unwrap().unwrap().updated_at, 4);
    assert!(s.record_cc_failure(i64::MAX, 5).is_err(), "no such order");
}

/// Every kind of credential lets in its own account with its own secret, and nothing else
/// does; what the store keeps of them is checked per backend (their tests read the tables).
pub fn credentials_authenticate_only_their_account(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    s.create_account("AC1", "token-1", "one", 0).unwrap();
    s.create_account("AC2", "token-2", "two", 0).unwrap();
    s.add_api_key("SK1", "key-secret", "AC1").unwrap();
    s.add_bearer_token("bearer-1", "AC2").unwrap();
    s.add_oauth_client("client-1", "client-secret", "AC1")
        .unwrap();
    s.issue_oauth_token(&IssuedToken {
        token: "oauth-1".into(),
        account_sid: "AC2".into(),
        client_id: "client-1".into(),
        issued_at: 0,
        expires_at: 100,
    })
    .unwrap();
    let basic = |user: &str, password: &str| Credential::Basic {
        user: user.into(),
        password: password.into(),
    };
    let who = |c: &Credential, now| s.authenticate(c, now).unwrap();
    let some = |a: &str| Some(a.to_string());
    assert_eq!(who(&basic("AC1", "token-1"), 1), some("AC1"));
    assert_eq!(who(&basic("AC2", "token-2"), 1), some("AC2"));
    assert_eq!(who(&basic("SK1", "key-secret"), 1), some("AC1"));
    assert_eq!(who(&Credential::Bearer("bearer-1".into()), 1), some("AC2"));
    assert_eq!(who(&Credential::Bearer("oauth-1".into()), 1), some("AC2"));
    for wrong in [
        basic("AC1", "token-2"),
        basic("AC1", "token-"),
        basic("AC1", ""),
        basic("AC2", "token-1"),
        basic("SK1", "token-1"),
        basic("AC3", "token-1"),
        basic("client-1", "client-secret"),
        Credential::Bearer("token-1".into()),
        Credential::Bearer("bearer-".into()),
        Credential::Bearer(crate::credentials::digest("bearer-1")),
    ] {
        assert_eq!(who(&wrong, 1), None, "{wrong:?}");
    }
    // The token expires, and a revoked one is gone.
    assert_eq!(who(&Credential::Bearer("oauth-1".into()), 100), None);
    assert_eq!(
        s.oauth_client("client-1", "client-secret").unwrap(),
        some("AC1")
    );
    assert_eq!(s.oauth_client("client-1", "client-secre").unwrap(), None);
    assert_eq!(s.oauth_client("client-2", "client-secret").unwrap(), None);
    assert!(s.revoke_oauth_token("oauth-1").unwrap());
    assert!(!s.revoke_oauth_token("oauth-2").unwrap());
    // A configured account's token can be replaced.
    s.ensure_account("AC2", "token-2b", 5).unwrap();
    assert_eq!(who(&basic("AC2", "token-2"), 6), None);
    assert_eq!(who(&basic("AC2", "token-2b"), 6), some("AC2"));
}

/// For the backends' migration tests: a store from before digests, holding AC1 `token-1`,
/// SK1 `key-secret`, bearer `bearer-1`, OAuth client `client-1`/`client-secret` and token
/// `oauth-1` (all AC1) in clear, plus AC2 `token-2` made after the migration, lets each in.
pub fn migrated_credentials_authenticate(s: &dyn OperatorStore) {
    let basic = |u: &str, p: &str| Credential::Basic {
        user: u.into(),
        password: p.into(),
    };
    for (cred, acct) in [
        (basic("AC1", "token-1"), "AC1"),
        (basic("AC2", "token-2"), "AC2"),
        (basic("SK1", "key-secret"), "AC1"),
        (Credential::Bearer("bearer-1".into()), "AC1"),
        (Credential::Bearer("oauth-1".into()), "AC1"),
    ] {
        assert_eq!(s.authenticate(&cred, 1).unwrap().as_deref(), Some(acct));
    }
    assert_eq!(
        s.oauth_client("client-1", "client-secret")
            .unwrap()
            .as_deref(),
        Some("AC1")
    );
    assert_eq!(s.authenticate(&basic("AC1", "token-2"), 1).unwrap(), None);
}

pub fn duplicates_and_counters(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    s.insert_profile(&order("HP1", "1"), 0).unwrap();
    let e = s.insert_profile(&order("HP2", "1"), 0).unwrap_err();
    assert!(
        matches!(e, StoreError::Duplicate { what: "ICCID", .. }),
        "{e}"
    );
    assert_eq!(s.next_serial("plan").unwrap(), 0);
    assert_eq!(s.next_serial("plan").unwrap(), 1);
    assert_eq!(s.next_serial("other").unwrap(), 0);
}

pub fn sessions_expire_and_updates_are_compare_and_set(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    let sess = Session {
        txid: t("AB"),
        state: SessionState::Initiated,
        created_at: 0,
        expires_at: 100,
        euicc_challenge: vec![1; 16],
        server_challenge: vec![2; 16],
        ci_pkid: vec![3; 20],
        eid: None,
        euicc_cert: None,
        profile_id: None,
        smdp_signature2: None,
        metadata: None,
        number: 7,
    };
    s.insert_session(&sess).unwrap();
    assert_eq!(s.session(&t("AB"), 99).unwrap().unwrap().number, 7);
    assert!(s.session(&t("AB"), 99).unwrap().is_some());
    assert!(s.session(&t("AB"), 100).unwrap().is_none());
    let next = Session {
        state: SessionState::Authenticated,
        ..sess.clone()
    };
    assert!(s.update_session(&next, SessionState::Initiated).unwrap());
    assert!(
        !s.update_session(&next, SessionState::Initiated).unwrap(),
        "replay"
    );
    assert_eq!(s.active_sessions(50).unwrap(), 1);
    assert_eq!(s.active_sessions(100).unwrap(), 0);

    // The install result ends its session and sets the status in one step.
    let p = s.insert_profile(&order("HP9", "9"), 0).unwrap();
    s.insert_session(&Session {
        txid: t("CD"),
        expires_at: 1000,
        ..sess.clone()
    })
    .unwrap();
    use ProfileStatus::{Available, Installed};
    assert!(s
        .set_status_ending_session(&t("CD"), p.id, &[Available], Installed, None, 1)
        .unwrap());
    assert!(s.session(&t("CD"), 1).unwrap().is_none());
    assert_eq!(s.profile(p.id).unwrap().unwrap().status, Installed);
    assert!(!s
        .set_status_ending_session(&t("CD"), p.id, &[Available], Installed, None, 2)
        .unwrap());
}

pub fn reserving_gives_unique_numbers_and_valid_codes(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let store = make();
    let mut rng = rsp_auth::rng::rng(Some(3));
    let plan = NumberPlan::default();
    let req = OrderRequest {
        generate_matching_id: true,
        ..Default::default()
    };
    let a = reserve(store.as_ref(), &plan, None, &req, &mut rng, 0).unwrap();
    let b = reserve(store.as_ref(), &plan, None, &req, &mut rng, 0).unwrap();
    assert_ne!(a.iccid, b.iccid);
    assert_ne!(a.matching_id, b.matching_id);
    let mid = a.matching_id.clone().unwrap();
    assert_eq!(mid.len(), 23);
    let ac = activation_code("smdp.test", &a).unwrap();
    assert_eq!(ActivationCode::parse(&ac.to_string()).unwrap(), ac);
    // The package carries the allocated numbers.
    let der = store.package(a.id).unwrap().unwrap();
    let pkg = rsp_saip::ProfilePackage::parse(&der).unwrap();
    assert_eq!(pkg.values().ef_iccid, a.iccid);
    // Its head: the length and the first bytes, no more.
    let (len, head) = store.package_head(a.id, 64).unwrap().unwrap();
    assert_eq!((len, head.as_slice()), (der.len(), &der[..64]));
    let (_, all) = store.package_head(a.id, der.len() + 10).unwrap().unwrap();
    assert_eq!(all, der);
    assert!(store.package_head(a.id + 1000, 64).unwrap().is_none());
    assert!(a.sid.starts_with("HP") && a.sid.len() == 34);

    for bad in [
        OrderRequest::default(),
        OrderRequest {
            // Bad check digits (only an unchecked parse makes such an Eid).
            eid: Some(Eid::parse_unchecked("89049032123451234512345678901234").unwrap()),
            ..Default::default()
        },
        OrderRequest {
            matching_id: Some("a$b".into()),
            ..Default::default()
        },
    ] {
        assert!(reserve(store.as_ref(), &plan, None, &bad, &mut rng, 0).is_err());
    }
    assert_eq!(
        store.profiles().unwrap().len(),
        2,
        "refused orders store nothing"
    );
}

/// The contract: a status change of a profile with a CallbackUrl queues exactly one
/// callback, in the same transaction; a compare-and-set that does not match queues none.
pub fn status_changes_queue_their_callback(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    let p = s
        .insert_profile(
            &NewProfile {
                callback_url: Some("http://127.0.0.1:9/cb".into()),
                callback_method: Some("POST".into()),
                ..order("HP1", "1")
            },
            0,
        )
        .unwrap();
    assert!(s.callbacks_for("AC0", "HP1").unwrap().is_empty());
    assert!(s
        .set_status(
            p.id,
            &[ProfileStatus::Available],
            ProfileStatus::Failed,
            Some((1, "x")),
            5
        )
        .unwrap());
    assert!(!s
        .set_status(
            p.id,
            &[ProfileStatus::Available],
            ProfileStatus::Installed,
            None,
            6
        )
        .unwrap());
    let queued = s.callbacks_for("AC0", "HP1").unwrap();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].profile_status, ProfileStatus::Failed);
    assert_eq!(queued[0].state, CallbackState::Pending);
}

fn lease(owner: &str, until: i64) -> Lease {
    Lease {
        owner: owner.into(),
        until,
    }
}

fn reservation(iccid: &str, sim: &str) -> Reservation {
    Reservation {
        iccid: iccid.into(),
        imsi: "001010000000001".into(),
        package: vec![0xA0, 0],
        sim_sid: sim.into(),
        charge_cents: 300,
        ppk: None,
    }
}

/// The contract: a reservation is claimed by one worker at a time; a claim that expires goes
/// to another worker, and the first can no longer complete it; completing charges once.
pub fn reservation_claims_are_exclusive_and_expire(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    s.create_account("AC0", "t", "test", 0).unwrap();
    for i in 1..=3 {
        s.insert_profile(
            &NewProfile {
                status: Some(ProfileStatus::New),
                iccid: None,
                ..order(&format!("HP{i}"), "")
            },
            0,
        )
        .unwrap();
    }
    let a = s.claim_reservations(&lease("A", 100), 10, 2).unwrap();
    let b = s.claim_reservations(&lease("B", 150), 10, 5).unwrap();
    assert_eq!(
        a.iter().map(|p| p.sid.as_str()).collect::<Vec<_>>(),
        ["HP1", "HP2"]
    );
    assert_eq!(
        b.iter().map(|p| p.sid.as_str()).collect::<Vec<_>>(),
        ["HP3"]
    );
    assert!(s
        .claim_reservations(&lease("B", 100), 50, 5)
        .unwrap()
        .is_empty());
    for p in a.iter().chain(&b) {
        assert!(s
            .set_status(
                p.id,
                &[ProfileStatus::New],
                ProfileStatus::Reserving,
                None,
                11
            )
            .unwrap());
    }
    // A dies; at 100 its claims are free again, and B takes them.
    let b2 = s.claim_reservations(&lease("B", 200), 100, 5).unwrap();
    assert_eq!(b2.len(), 2, "expired claims go back");
    assert!(
        !s.complete_reservation(a[0].id, &reservation("8901", "HS1"), "A", 101)
            .unwrap(),
        "a lost lease completes nothing"
    );
    assert!(s
        .complete_reservation(a[0].id, &reservation("8901", "HS1"), "B", 101)
        .unwrap());
    assert!(
        !s.complete_reservation(a[0].id, &reservation("8901", "HS1"), "B", 102)
            .unwrap(),
        "completed once"
    );
    assert_eq!(
        s.profile(a[0].id).unwrap().unwrap().status,
        ProfileStatus::Available
    );
    assert_eq!(s.charges("AC0").unwrap().len(), 1, "charged once");
    assert!(
        s.claim_reservations(&lease("C", 300), 250, 5)
            .unwrap()
            .len()
            == 2
    );
}

/// The contract: callbacks are claimed one per profile, oldest first, by one worker at a
/// time; recording needs the lease; an expired claim goes to another worker.
pub fn callback_claims_are_exclusive_in_order_and_expire(
    make: &dyn Fn() -> Box<dyn OperatorStore>,
) {
    let s = make();
    s.create_account("AC0", "token", "test", 0).unwrap();
    let p = s
        .insert_profile(
            &NewProfile {
                callback_url: Some("http://127.0.0.1:9/cb".into()),
                callback_method: Some("POST".into()),
                ..order("HP1", "1")
            },
            0,
        )
        .unwrap();
    use ProfileStatus::*;
    assert!(s
        .set_status(p.id, &[Available], Downloaded, None, 1)
        .unwrap());
    assert!(s
        .set_status(p.id, &[Downloaded], Installed, None, 2)
        .unwrap());
    let a = s.claim_due_callbacks(&lease("A", 100), 10, 10).unwrap();
    assert_eq!(a.len(), 1, "one per profile: the oldest");
    assert_eq!(a[0].0.profile_status, Downloaded);
    let signed = |k: &crate::credentials::HmacSha1Key| k.mac([b"url".as_slice()]);
    assert_eq!(
        signed(&a[0].1),
        signed(&crate::credentials::HmacSha1Key::new(b"token")),
        "signed with the account's token"
    );
    assert!(s
        .claim_due_callbacks(&lease("B", 100), 10, 10)
        .unwrap()
        .is_empty());
    let delivered = Attempt::Delivered { http_status: 204 };
    assert!(
        !s.record_attempt(a[0].0.id, &delivered, "B", 11).unwrap(),
        "not B's"
    );
    assert!(s.record_attempt(a[0].0.id, &delivered, "A", 11).unwrap());
    let b = s.claim_due_callbacks(&lease("B", 100), 12, 10).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].0.profile_status, Installed);
    // B dies holding it: after its lease, A delivers it.
    assert!(s
        .claim_due_callbacks(&lease("A", 200), 50, 10)
        .unwrap()
        .is_empty());
    let a2 = s.claim_due_callbacks(&lease("A", 200), 100, 10).unwrap();
    assert_eq!(a2.len(), 1);
    assert!(!s.record_attempt(b[0].0.id, &delivered, "B", 101).unwrap());
    assert!(s.record_attempt(a2[0].0.id, &delivered, "A", 101).unwrap());
    let states: Vec<CallbackState> = s
        .callbacks_for("AC0", "HP1")
        .unwrap()
        .into_iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(states, [CallbackState::Delivered; 2]);
}

fn preinstalled(row: usize, eid: &str, n: u32, name: Option<&str>) -> NewPreinstalled {
    let payload = format!("890010100000000{n:04}");
    let iccid = format!("{payload}{}", rsp_asn1::ids::luhn_check_digit(&payload));
    NewPreinstalled {
        sid: format!("HP{:032x}", 1000 + n),
        sim_sid: format!("HS{:032x}", 1000 + n),
        profile: crate::import::PreinstalledProfile {
            row,
            eid: e(eid),
            iccid,
            imsi: format!("00101000000{n:04}"),
            ki: [1; 16],
            opc: [2; 16],
            spn: None,
            sim_unique_name: name.map(Into::into),
        },
    }
}

/// The contract: a batch of pre-installed profiles is recorded all or nothing, each
/// `installed` with its Sim and charge; a re-run changes and charges nothing; a row in
/// conflict (another account's ICCID, a Sim name in use) refuses the batch, naming the row.
pub fn preinstalled_imports_are_all_or_nothing_and_idempotent(
    make: &dyn Fn() -> Box<dyn OperatorStore>,
) {
    let s = make();
    s.create_account("AC0", "t", "a", 0).unwrap();
    s.create_account("AC1", "t", "b", 0).unwrap();
    let batch = [
        preinstalled(1, "E1", 1, Some("lab-1")),
        preinstalled(2, "E2", 2, None),
    ];
    assert_eq!(
        s.import_preinstalled("AC0", &batch, 300, 5).unwrap(),
        [true, true]
    );
    let p = s.profile_by_sid("AC0", &batch[0].sid).unwrap().unwrap();
    assert_eq!(p.status, ProfileStatus::Installed);
    assert_eq!(p.eid, Some(e("E1")));
    assert_eq!(p.matching_id, None);
    assert_eq!(p.sim_sid.as_deref(), Some(batch[0].sim_sid.as_str()));
    assert!(s.sim("AC0", "lab-1").unwrap().is_some());
    assert_eq!(s.charges("AC0").unwrap().len(), 2);
    // The same batch again (new sids drawn): nothing changes, nothing is charged.
    let again: Vec<NewPreinstalled> = batch
        .iter()
        .map(|r| NewPreinstalled {
            sid: format!("{}0", &r.sid[..33]),
            ..r.clone()
        })
        .collect();
    assert_eq!(
        s.import_preinstalled("AC0", &again, 300, 6).unwrap(),
        [false, false]
    );
    assert_eq!(s.charges("AC0").unwrap().len(), 2);
    // Another account's batch reusing an ICCID, with a valid row before it: nothing at all.
    let conflict = [
        preinstalled(1, "E3", 3, None),
        preinstalled(2, "E4", 1, None),
    ];
    match s.import_preinstalled("AC1", &conflict, 300, 7) {
        Err(StoreError::Rows(rows)) => assert_eq!(rows.len(), 1, "{rows:?}"),
        other => panic!("{other:?}"),
    }
    assert!(s.profile_by_sid("AC1", &conflict[0].sid).unwrap().is_none());
    assert!(s.charges("AC1").unwrap().is_empty());
    // A Sim unique name in use.
    let named = [preinstalled(7, "E5", 5, Some("lab-1"))];
    assert!(matches!(
        s.import_preinstalled("AC0", &named, 300, 8),
        Err(StoreError::Rows(r)) if r[0].0 == 7
    ));
    // Charging off.
    assert_eq!(
        s.import_preinstalled("AC1", &[preinstalled(1, "E6", 6, None)], 0, 9)
            .unwrap(),
        [true]
    );
    assert!(s.charges("AC1").unwrap().is_empty());
}

/// A Sim status change is scheduled once (compare-and-set), completes once, and queues its
/// callback with the Sim's fields, grouped with its profile's; fleets and NAPs are per
/// account with unique names; MILENAGE settings round-trip.
pub fn sim_updates_fleets_and_milenage(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    s.create_account("AC0", "t", "a", 0).unwrap();
    s.create_account("AC1", "t", "b", 0).unwrap();
    s.import_preinstalled("AC0", &[preinstalled(1, "E1", 1, Some("m"))], 0, 1)
        .unwrap();
    let sim = s.sim("AC0", "m").unwrap().unwrap();
    let schedule = |status, url: Option<&str>| SimUpdate {
        schedule: Some(ScheduledStatus {
            status,
            callback_url: url.map(Into::into),
            callback_method: "POST".into(),
        }),
        ..Default::default()
    };
    assert!(s
        .update_sim(sim.id, &schedule(SimStatus::Active, Some("http://x/cb")), 2)
        .unwrap());
    let scheduled = s.sim("AC0", &sim.sid).unwrap().unwrap();
    assert_eq!(scheduled.status, SimStatus::Scheduled);
    assert_eq!(scheduled.target_status, Some(SimStatus::Active));
    // A second change while one is in progress is refused and changes nothing.
    assert!(!s
        .update_sim(sim.id, &schedule(SimStatus::Inactive, None), 3)
        .unwrap());
    // Other fields still change.
    let fleetless = SimUpdate {
        unique_name: Some("m2".into()),
        ..Default::default()
    };
    assert!(s.update_sim(sim.id, &fleetless, 3).unwrap());
    let done = s.complete_sim_updates(4).unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].status, SimStatus::Active);
    assert_eq!(done[0].target_status, None);
    assert!(
        s.complete_sim_updates(5).unwrap().is_empty(),
        "completes once"
    );
    let profile_sid = &preinstalled(1, "E1", 1, None).sid;
    let cbs = s.callbacks_for("AC0", profile_sid).unwrap();
    assert_eq!(cbs.len(), 1, "{cbs:?}");
    assert_eq!(
        cbs[0].subject,
        CallbackSubject::Sim {
            status: SimStatus::Active,
            unique_name: Some("m2".into()),
            fleet_sid: None,
        }
    );
    assert_eq!(cbs[0].url, "http://x/cb");
    assert_eq!(cbs[0].sim_sid.as_deref(), Some(sim.sid.as_str()));
    // Without a callback URL, a completed change queues nothing.
    assert!(s
        .update_sim(sim.id, &schedule(SimStatus::Inactive, None), 6)
        .unwrap());
    s.complete_sim_updates(7).unwrap();
    assert_eq!(s.callbacks_for("AC0", profile_sid).unwrap().len(), 1);

    // NAPs and fleets: by sid or unique name, per account.
    let nap = s
        .insert_network_access_profile("HA1", "AC0", Some("nap"), 8)
        .unwrap();
    assert!(matches!(
        s.insert_network_access_profile("HA2", "AC0", Some("nap"), 8),
        Err(StoreError::Duplicate { .. })
    ));
    s.insert_network_access_profile("HA3", "AC1", Some("nap"), 8)
        .unwrap();
    assert_eq!(
        s.network_access_profile("AC0", "nap").unwrap().unwrap().sid,
        "HA1"
    );
    assert!(s.network_access_profile("AC1", "HA1").unwrap().is_none());
    let fleet = Fleet {
        id: 0,
        sid: "HF1".into(),
        account_sid: "AC0".into(),
        unique_name: Some("f".into()),
        data_enabled: true,
        data_limit: 1000,
        network_access_profile_sid: nap.sid.clone(),
        ip_commands_url: None,
        ip_commands_method: "POST".into(),
        sms_commands_enabled: true,
        sms_commands_url: None,
        sms_commands_method: "POST".into(),
        created_at: 9,
        updated_at: 9,
    };
    let f = s.insert_fleet(&fleet).unwrap();
    assert_eq!(f.data_limit, 1000);
    assert!(matches!(
        s.insert_fleet(&Fleet {
            sid: "HF2".into(),
            ..fleet.clone()
        }),
        Err(StoreError::Duplicate { .. })
    ));
    s.update_fleet(
        f.id,
        &FleetUpdate {
            data_limit: Some(5),
            ..Default::default()
        },
        10,
    )
    .unwrap();
    let f = s.fleet("AC0", "f").unwrap().unwrap();
    assert_eq!((f.data_limit, f.updated_at), (5, 10));
    assert_eq!(f.unique_name.as_deref(), Some("f"), "unchanged");
    assert_eq!(
        s.list_fleets("AC0", Some("HA1"), Cursor::Start, 10)
            .unwrap()
            .len(),
        1
    );
    assert!(s
        .list_fleets("AC0", Some("HA3"), Cursor::Start, 10)
        .unwrap()
        .is_empty());
    assert!(s.fleet("AC1", "HF1").unwrap().is_none());
    let assign = SimUpdate {
        fleet_sid: Some("HF1".into()),
        ..Default::default()
    };
    s.update_sim(sim.id, &assign, 11).unwrap();
    let by_fleet = SimFilter {
        fleet_sid: Some("HF1".into()),
        ..Default::default()
    };
    assert_eq!(
        s.list_sims("AC0", &by_fleet, Cursor::Start, 10).unwrap()[0].sid,
        sim.sid
    );

    // MILENAGE: defaults until set; per account.
    assert_eq!(s.milenage("AC0").unwrap(), Milenage::default());
    let m = Milenage {
        op: Some([7; 16]),
        amf: [0xB9, 0xB9],
    };
    s.set_milenage("AC0", &m).unwrap();
    assert_eq!(s.milenage("AC0").unwrap(), m);
    assert_eq!(s.milenage("AC1").unwrap(), Milenage::default());
    assert!(s.set_milenage("ACnobody", &m).is_err());
    let p = s.profile_by_sid("AC0", profile_sid).unwrap().unwrap();
    assert!(s.preinstalled_keys(p.id).unwrap().is_some());
}

/// A notification is recorded against the profile with its ICCID on its EID, once per
/// (EID, seqNumber); one about no known profile is still recorded, against none.
pub fn notifications_are_recorded_once_against_their_profile(
    make: &dyn Fn() -> Box<dyn OperatorStore>,
) {
    let s = make();
    s.create_account("AC0", "t", "a", 0).unwrap();
    let row = preinstalled(1, "E1", 1, None);
    s.import_preinstalled("AC0", std::slice::from_ref(&row), 0, 1)
        .unwrap();
    let p = s.profile_by_sid("AC0", &row.sid).unwrap().unwrap();
    let n = |eid: &str, iccid: &str, seq| NotificationRecord {
        eid: e(eid),
        iccid: Some(iccid.into()),
        operation: "disable".into(),
        seq_number: seq,
        received_at: 5,
        profile_sid: None,
    };
    let iccid = row.profile.iccid.clone();
    assert!(s.record_notification(&n("E1", &iccid, 1)).unwrap());
    assert!(
        !s.record_notification(&n("E1", &iccid, 1)).unwrap(),
        "replay"
    );
    // Same ICCID from another eUICC: not this profile's.
    assert!(s.record_notification(&n("E2", &iccid, 1)).unwrap());
    let mine = s.notifications_for(p.id).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].profile_sid.as_deref(), Some(row.sid.as_str()));
    let all = s.notifications().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].profile_sid, None);
}

/// An order's fault plan is replaced alone (its other options kept); fired faults are logged
/// per order in order, and found by session.
pub fn fault_plans_and_their_log(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    let mut o = order("HP1", "1");
    o.options.pre_protected = true;
    let p = s.insert_profile(&o, 1).unwrap();
    let plan = crate::faults::parse_list("getBoundProfilePackage:flip-mac=1@1").unwrap();
    assert!(s.set_faults(p.id, &plan).unwrap());
    let back = s.profile(p.id).unwrap().unwrap();
    assert_eq!(back.options.faults, plan);
    assert!(back.options.pre_protected, "other options kept");
    assert!(!s.set_faults(p.id + 100, &plan).unwrap());
    let fired = |attempt, txid: &str| FiredFault {
        profile_id: p.id,
        txid: Some(t(txid)),
        session: Some(i64::from(attempt) + 10),
        function: "getBoundProfilePackage".into(),
        attempt,
        fault: plan[0].to_string(),
        fired_at: 5,
    };
    s.record_fault(&fired(1, "T1")).unwrap();
    s.record_fault(&fired(2, "T2")).unwrap();
    assert_eq!(
        s.faults_fired(p.id).unwrap(),
        [fired(1, "T1"), fired(2, "T2")]
    );
    assert!(s.fault_fired_in(&t("T1")).unwrap());
    assert!(!s.fault_fired_in(&t("T3")).unwrap());
    assert!(s.faults_fired(p.id + 1).unwrap().is_empty());
}

pub fn profiles_page_in_id_order(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    let ids: Vec<i64> = (0..5)
        .map(|i| {
            s.insert_profile(&order(&format!("HP{i}"), &i.to_string()), 0)
                .unwrap()
                .id
        })
        .collect();
    let first = s.profiles_after(0, 2).unwrap();
    assert_eq!(first.iter().map(|p| p.id).collect::<Vec<_>>(), ids[..2]);
    let rest = s.profiles_after(first[1].id, 10).unwrap();
    assert_eq!(rest.iter().map(|p| p.id).collect::<Vec<_>>(), ids[2..]);
    assert!(s.profiles_after(ids[4], 10).unwrap().is_empty());
    assert_eq!(s.profile_with_sid("HP3").unwrap().unwrap().id, ids[3]);
    assert!(s.profile_with_sid("HP9").unwrap().is_none());
}

pub fn fixture_orders_are_listed(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    let s = make();
    let mut f = order("HP1", "1");
    f.options.fixture = Some("TEST123".into());
    s.insert_profile(&f, 0).unwrap();
    s.insert_profile(&order("HP2", "2"), 0).unwrap();
    let found = s.fixture_profiles().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].sid, "HP1");
    assert_eq!(found[0].options.fixture.as_deref(), Some("TEST123"));
}

/// An inventory profile of type `t` (`smdp inventory add` makes these with numbers and a
/// package from the plan).
fn stocked(sid: &str, iccid: &str, t: &str) -> NewProfile {
    NewProfile {
        status: Some(ProfileStatus::Reserving),
        unreleased: true,
        package: Some(vec![0x30, 0]),
        sim_sid: Some(format!("HS{sid}")),
        profile_type: Some(t.into()),
        es2_mark: Some(crate::es2::State::Available),
        ..order(sid, iccid)
    }
}

pub fn es2_orders_are_compare_and_set(make: &dyn Fn() -> Box<dyn OperatorStore>) {
    use crate::es2::State::*;
    let s = make();
    s.create_account("AC0", "t", "a", 0).unwrap();
    let a = s.insert_profile(&stocked("HP1", "891", "T"), 1).unwrap();
    let b = s.insert_profile(&stocked("HP2", "892", "T"), 2).unwrap();
    s.insert_profile(&stocked("HP3", "893", "U"), 3).unwrap();
    assert_eq!(a.es2_state(), Available);
    assert!(a.in_inventory() && a.es2_view().unwrap().profile_type == "T");
    // Inventory is no ESimProfile: REST listings and lookups do not show it.
    let f = ProfileFilter::default();
    assert!(s
        .list_profiles("AC0", &f, Cursor::Start, 10)
        .unwrap()
        .is_empty());
    assert!(s.profile_by_sid("AC0", "HP1").unwrap().is_none());
    assert_eq!(s.profile_by_iccid("892").unwrap().unwrap().id, b.id);
    assert_eq!(
        s.inventory_pick("T").unwrap().unwrap().id,
        a.id,
        "oldest first"
    );
    assert!(s.inventory_pick("V").unwrap().is_none());
    // Not claimed by the reservation worker, not released by `profile release`.
    let lease = Lease {
        owner: "w".into(),
        until: 100,
    };
    assert!(s.claim_reservations(&lease, 5, 10).unwrap().is_empty());
    assert!(!s.release_order(a.id, 5).unwrap());

    // DownloadOrder: of two orders from the same read, one wins; the Sim and charge once.
    let order = |eid: Option<Eid>| Es2Change::Order {
        requester: "op".into(),
        eid,
        charge_cents: 300,
    };
    assert!(s
        .es2_apply(a.id, Available, &order(Some(e("E1"))), 10)
        .unwrap());
    assert!(!s.es2_apply(a.id, Available, &order(None), 10).unwrap());
    let got = s.profile(a.id).unwrap().unwrap();
    assert_eq!((got.es2_state(), got.eid), (Linked, Some(e("E1"))));
    assert_eq!(got.requester.as_deref(), Some("op"));
    assert_eq!(
        got.status,
        ProfileStatus::Reserving,
        "an order being confirmed"
    );
    assert_eq!(s.inventory_pick("T").unwrap().unwrap().id, b.id);
    assert_eq!(
        s.list_profiles("AC0", &f, Cursor::Start, 10).unwrap().len(),
        1
    );
    assert!(s.sim("AC0", "HSHP1").unwrap().is_some());
    assert_eq!(s.charges("AC0").unwrap().len(), 1);
    // An action from a state the profile is not in changes nothing.
    let confirm = |m: &str, release: bool| Es2Change::Confirm {
        eid: Some(e("E1")),
        matching_id: m.into(),
        confirmation_code: None,
        release,
    };
    assert!(!s
        .es2_apply(a.id, Allocated, &confirm("M-1", true), 11)
        .unwrap());
    assert!(!s
        .es2_apply(a.id, Confirmed, &Es2Change::Release, 11)
        .unwrap());
    // ConfirmOrder without release: held (ES9+ 8.2/1.2) until ReleaseProfile.
    assert!(s
        .es2_apply(a.id, Linked, &confirm("M-1", false), 11)
        .unwrap());
    let got = s.profile(a.id).unwrap().unwrap();
    assert_eq!((got.es2_state(), got.released), (Confirmed, false));
    assert_eq!(got.matching_id.as_deref(), Some("M-1"));
    assert_eq!(s.profile_by_matching_id("M-1").unwrap().unwrap().id, a.id);
    assert!(s
        .es2_apply(a.id, Confirmed, &Es2Change::Release, 12)
        .unwrap());
    assert!(!s
        .es2_apply(a.id, Confirmed, &Es2Change::Release, 12)
        .unwrap());
    let got = s.profile(a.id).unwrap().unwrap();
    assert_eq!(got.es2_state(), Released);
    assert_eq!((got.status, got.released), (ProfileStatus::Available, true));

    // A matching ID another order holds is refused, and nothing changes.
    assert!(s.es2_apply(b.id, Available, &order(None), 13).unwrap());
    match s.es2_apply(b.id, Allocated, &confirm("M-1", true), 13) {
        Err(StoreError::Duplicate { what, .. }) => assert_eq!(what, "matching ID"),
        other => panic!("expected a duplicate matching ID, got {other:?}"),
    }
    assert_eq!(s.profile(b.id).unwrap().unwrap().es2_state(), Allocated);

    // CancelOrder back to the inventory: order data and Sim gone, numbers and package kept;
    // ordered again, it is charged once.
    assert!(s
        .es2_apply(
            a.id,
            Released,
            &Es2Change::Cancel {
                back_to_inventory: true
            },
            14
        )
        .unwrap());
    let got = s.profile(a.id).unwrap().unwrap();
    assert_eq!(got.es2_state(), Available);
    assert_eq!(
        (got.eid, got.matching_id.clone(), got.requester.clone()),
        (None, None, None)
    );
    assert!(
        s.profile_by_matching_id("M-1").unwrap().is_none(),
        "its matching ID is free"
    );
    assert!(s.sim("AC0", "HSHP1").unwrap().is_none());
    assert!(s.package(a.id).unwrap().is_some());
    assert!(s.es2_apply(a.id, Available, &order(None), 15).unwrap());
    assert_eq!(
        s.charges("AC0").unwrap().len(),
        2,
        "one per profile, not per order"
    );
    // CancelOrder as Unavailable: failed for REST, never handed out again.
    assert!(s
        .es2_apply(
            b.id,
            Allocated,
            &Es2Change::Cancel {
                back_to_inventory: false
            },
            16
        )
        .unwrap());
    let got = s.profile(b.id).unwrap().unwrap();
    assert_eq!(
        (got.es2_state(), got.status),
        (Unavailable, ProfileStatus::Failed)
    );
    assert!(!s.es2_apply(b.id, Available, &order(None), 17).unwrap());
    // A REST order held unreleased reads as confirmed and is released by ES2+.
    let mut held = order_held("HP9", "899");
    held.eid = Some(e("E9"));
    let h = s.insert_profile(&held, 18).unwrap();
    assert_eq!(h.es2_state(), Confirmed);
    assert!(s
        .es2_apply(h.id, Confirmed, &Es2Change::Release, 19)
        .unwrap());
    assert_eq!(s.profile(h.id).unwrap().unwrap().es2_state(), Released);

    let counts = s.inventory_counts(None).unwrap();
    let count = |t: &str, st| {
        counts
            .iter()
            .find(|c| c.profile_type == t && c.state == st)
            .map_or(0, |c| c.count)
    };
    assert_eq!(count("T", Allocated), 1);
    assert_eq!(count("T", Unavailable), 1);
    assert_eq!(count("U", Available), 1);
    assert_eq!(
        counts.iter().map(|c| c.count).sum::<i64>(),
        3,
        "REST orders are no inventory"
    );
    assert_eq!(
        s.inventory_counts(Some("AC0")).unwrap(),
        counts,
        "all AC0's"
    );
    assert!(s.inventory_counts(Some("AC9")).unwrap().is_empty());
    assert!(matches!(
        s.es2_apply(a.id, Downloaded, &Es2Change::Release, 20),
        Err(StoreError::Invalid(_))
    ));
}

fn order_held(sid: &str, iccid: &str) -> NewProfile {
    NewProfile {
        status: Some(ProfileStatus::Reserving),
        unreleased: true,
        package: Some(vec![0x30, 0]),
        ..order(sid, iccid)
    }
}

/// One `#[test]` per conformance case, for a backend's test module. With `skip_unless`, each
/// test returns early (passing) when the expression is false: a backend whose server is not
/// there (PostgreSQL without `DATABASE_URL`) prints its own notice.
#[macro_export]
macro_rules! store_conformance_tests {
    ($make:expr) => {
        $crate::store_conformance_tests!($make, skip_unless true);
    };
    ($make:expr, skip_unless $ready:expr) => {
        $crate::store_conformance_tests!(@cases $make, $ready;
            binding_is_won_once_and_attempts_are_capped,
            held_orders_are_released_once,
            confirmation_code_failures_are_the_orders,
            credentials_authenticate_only_their_account,
            duplicates_and_counters,
            sessions_expire_and_updates_are_compare_and_set,
            reserving_gives_unique_numbers_and_valid_codes,
            status_changes_queue_their_callback,
            reservation_claims_are_exclusive_and_expire,
            callback_claims_are_exclusive_in_order_and_expire,
            preinstalled_imports_are_all_or_nothing_and_idempotent,
            sim_updates_fleets_and_milenage,
            notifications_are_recorded_once_against_their_profile,
            fault_plans_and_their_log,
            fixture_orders_are_listed,
            es2_orders_are_compare_and_set,
            profiles_page_in_id_order);
    };
    (@cases $make:expr, $ready:expr; $($case:ident),*) => {$(
        #[test]
        fn $case() {
            if !$ready {
                return;
            }
            $crate::store::testing::$case(&$make);
        }
    )*};
}
