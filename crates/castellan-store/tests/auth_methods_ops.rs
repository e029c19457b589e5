//! `core::ops::auth_methods` over a real store: register (pending → confirmed), the sign-in
//! check `verify_totp_for_user` refusing a replayed code (also when two requests race), the
//! pending method never counting, recovery codes working once, and delete.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use castellan_core::audit::Actor;
use castellan_core::conformance::{tenant, user, Ids};
use castellan_core::ops::auth_methods::{self, Sealer, TotpCheck};
use castellan_core::ops::{Entropy, Env, PasswordHasher};
use castellan_core::policy::totp::{decode_base32, Totp, TotpError};
use castellan_core::store::prelude::*;
use castellan_core::store::{Change, ChangeSet};
use castellan_core::Timestamp;
use castellan_store::SqlStore;

struct Counter(u8);
impl Entropy for Counter {
    fn bytes16(&mut self) -> [u8; 16] {
        self.0 = self.0.wrapping_add(1);
        let mut b = [self.0; 16];
        b[15] = self.0.wrapping_mul(7);
        b
    }
    fn secret(&mut self) -> String {
        "s".repeat(43)
    }
}

struct NoHash;
#[async_trait]
impl PasswordHasher for NoHash {
    async fn hash(&self, p: &str) -> Result<String, String> {
        Ok(p.to_string())
    }
    async fn verify(&self, p: &str, phc: &str) -> bool {
        p == phc
    }
}

/// A reversible stand-in for the master key (the store must only ever see its output).
struct Xor;
impl Sealer for Xor {
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, String> {
        Ok(plain.iter().map(|b| b ^ 0xA5).collect())
    }
    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        self.seal(sealed)
    }
}

#[tokio::test]
async fn register_verify_replay_recover_delete() {
    let path = std::env::temp_dir().join(format!(
        "castellan-authm-{}-{}.db",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    let s = SqlStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let mut ids = Ids::new(42);
    let t = tenant(&mut ids, "authm");
    let u = user(&mut ids, &t, "authm", false);
    s.commit(ChangeSet {
        changes: vec![
            Change::InsertTenant(t.clone()),
            Change::InsertUser(u.clone()),
        ],
        audit: vec![],
    })
    .await
    .unwrap();
    let mut ent = Counter(0);
    let now = Timestamp(1_700_000_000_000);
    let mut env = Env {
        store: &s,
        now,
        entropy: &mut ent,
        hasher: &NoHash,
        actor: Actor::User {
            id: u.id,
            upn: u.user_principal_name.clone(),
        },
        correlation_id: "c".into(),
    };
    let reg = auth_methods::begin_registration(&mut env, &Xor, &t, &u, false)
        .await
        .unwrap();
    assert!(reg.otpauth_uri.starts_with("otpauth://totp/"));
    let totp = Totp::new(decode_base32(&reg.secret_base32).unwrap()).unwrap();
    // The store holds the sealed secret only.
    let stored = s
        .software_oath_method(t.id, reg.method_id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.secret_sealed, totp.secret());
    // Pending: no method yet, and sign-in checks find none.
    assert!(!auth_methods::has_registered_method(&s, &t, u.id)
        .await
        .unwrap());
    assert_eq!(
        auth_methods::verify_totp_for_user(&s, &Xor, &t, u.id, &totp.code(now), now)
            .await
            .unwrap(),
        TotpCheck::NoMethod
    );
    // A wrong code does not confirm.
    let wrong = if totp.code(now) == "000000" {
        "111111"
    } else {
        "000000"
    };
    assert!(
        auth_methods::confirm_registration(&mut env, &Xor, &t, &u, reg.method_id, wrong)
            .await
            .is_err()
    );
    let codes =
        auth_methods::confirm_registration(&mut env, &Xor, &t, &u, reg.method_id, &totp.code(now))
            .await
            .unwrap();
    assert_eq!(codes.len(), auth_methods::RECOVERY_CODES);
    assert!(auth_methods::has_registered_method(&s, &t, u.id)
        .await
        .unwrap());
    // The confirming code cannot sign in: its step is used.
    assert_eq!(
        auth_methods::verify_totp_for_user(&s, &Xor, &t, u.id, &totp.code(now), now)
            .await
            .unwrap(),
        TotpCheck::Rejected(TotpError::Replayed)
    );
    // The next step's code signs in once, even when two requests race.
    let later = Timestamp(now.0 + 30_000);
    let code = totp.code(later);
    let (a, b) = tokio::join!(
        auth_methods::verify_totp_for_user(&s, &Xor, &t, u.id, &code, later),
        auth_methods::verify_totp_for_user(&s, &Xor, &t, u.id, &code, later),
    );
    let results = [a.unwrap(), b.unwrap()];
    assert_eq!(
        results
            .iter()
            .filter(|r| **r == TotpCheck::Accepted)
            .count(),
        1,
        "{results:?}"
    );
    assert!(results.contains(&TotpCheck::Rejected(TotpError::Replayed)));
    // Recovery codes work once.
    assert!(auth_methods::verify_recovery_code(&s, &t, u.id, &codes[0])
        .await
        .unwrap());
    assert!(!auth_methods::verify_recovery_code(&s, &t, u.id, &codes[0])
        .await
        .unwrap());
    assert!(
        !auth_methods::verify_recovery_code(&s, &t, u.id, "AAAA-AAAA-AAAA-AAAA")
            .await
            .unwrap()
    );
    // Delete.
    auth_methods::delete(&mut env, &t, &u, reg.method_id)
        .await
        .unwrap();
    assert!(!auth_methods::has_registered_method(&s, &t, u.id)
        .await
        .unwrap());
    let audits = s
        .audit_records(t.id, &Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.activity)
        .collect::<Vec<_>>();
    for a in [
        "User started security info registration",
        "User registered security info",
        "User deleted security info",
    ] {
        assert!(audits.iter().any(|x| x == a), "{a} not in {audits:?}");
    }
}
