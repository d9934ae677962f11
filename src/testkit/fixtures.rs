//! A user enrolled through the public transitions: the fixture every suite,
//! bench and fuzz target starts from.
//!
//! ```
//! use mfa::testkit::{fixtures::Enrolled, test_config};
//!
//! let ctx = test_config();
//! let user = Enrolled::new(&ctx, "alice", 1_700_000_000);
//! assert!(user.active.is_active());
//! assert_eq!(user.codes.len(), 10);
//! ```

use rand::{SeedableRng, rngs::StdRng};

use crate::backup::BackupCodes;
use crate::enrollment::MfaEnrollment;
use crate::policy::MfaContext;
use crate::session::Proof;
use crate::totp::{self, TotpSecret};

/// One user's pending setup, the active factor it was confirmed into, the
/// secret an authenticator app would hold and the backup codes shown once.
#[derive(Debug)]
#[non_exhaustive]
pub struct Enrolled {
    /// The record after setup began (at `confirmed_at`).
    pub pending: MfaEnrollment,
    /// The record after the setup was confirmed (at `confirmed_at`, so that
    /// step is used).
    pub active: MfaEnrollment,
    /// The TOTP secret, as the user's app holds it.
    pub secret: TotpSecret,
    /// The backup codes the confirmation returned.
    pub codes: BackupCodes,
    /// The proof the confirmation returned (verified at `confirmed_at`).
    pub proof: Proof,
    /// When setup began and was confirmed (unix seconds).
    pub confirmed_at: u64,
}

impl Enrolled {
    /// `user_id` begins and confirms setup at `confirmed_at` under `ctx`,
    /// with a fixed RNG seed, so the same inputs give the same records.
    ///
    /// # Panics
    /// If the context's policy cannot enroll anyone (a fixture, not an API).
    pub fn new(ctx: &MfaContext, user_id: &str, confirmed_at: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(7);
        let begun = MfaEnrollment::default().begin_setup(
            ctx,
            user_id,
            "someone@example.com",
            confirmed_at,
            &mut rng,
        );
        let setup = begun.outcome.expect("setup begins");
        let secret = TotpSecret::from_base32(setup.secret_base32()).expect("base32 secret");
        let code = totp::generate(&secret, ctx.policy().totp.params(), confirmed_at)
            .expect("valid TOTP parameters");
        let confirmed =
            begun
                .state
                .clone()
                .confirm_setup(ctx, user_id, &code, confirmed_at, &mut rng);
        let enabled = confirmed.outcome.expect("setup confirms");
        Enrolled {
            pending: begun.state,
            active: confirmed.state,
            secret,
            codes: enabled.backup_codes,
            proof: enabled.proof,
            confirmed_at,
        }
    }

    /// The backup codes as strings.
    pub fn code_strings(&self) -> Vec<String> {
        self.codes
            .as_strs()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }
}

/// `record` with passkeys of these credential ids added to its active set
/// (made active, without an app, if it had no factor): for store suites
/// that need records holding credentials, without a WebAuthn ceremony. The
/// keys are placeholders; such a passkey never verifies.
pub fn with_passkeys(record: MfaEnrollment, credential_ids: &[&[u8]]) -> MfaEnrollment {
    use crate::enrollment::{ActiveFactor, FactorState};
    use crate::passkey::StoredPasskey;
    let mut record = record;
    if !record.is_active() {
        let codes = crate::backup::StoredBackupCodes::placeholder();
        record.factor = FactorState::Active(ActiveFactor::new(0, None, codes));
    }
    let FactorState::Active(active) = &mut record.factor else {
        unreachable!("made active above");
    };
    for (n, id) in credential_ids.iter().enumerate() {
        active.passkeys.push(StoredPasskey {
            id: format!("pk{n}"),
            name: format!("key {n}"),
            credential_id: id.to_vec(),
            created_at: 0,
            last_used_at: None,
            backup_eligible: true,
            backed_up: true,
            counter: 0,
            key: serde_json::Value::Null,
        });
    }
    record
}
