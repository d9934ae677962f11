//! The record the host stores, and its one-time outputs.

mod charge;
mod devices;
mod effects;
mod factors;
mod format;
mod login;
mod operator;
mod outputs;
mod passkeys;
mod replace;
mod status;
mod transitions;
mod verify;

pub use factors::{ActiveFactor, PendingSetup, RememberedDevice, Replacement, TotpApp};
pub use outputs::{Enabled, Reauth, TotpSetup, Verified, VerifiedBy};
pub use status::{MfaMethod, MfaMethods, MfaStatus};

pub(crate) use charge::{Charge, CodeCheck, Paid, SubmittedCode};
#[cfg(feature = "import")]
pub(crate) use effects::unchanged;
#[cfg(feature = "passkeys")]
pub(crate) use passkeys::SubmittedAssertion;
pub(crate) use verify::{Accept, Argon2Work, Hashing};

use crate::error::Result;
use crate::event::SecurityEvent;
use crate::passkey::{PendingPasskey, SpentChallenges};
use crate::policy::MfaContext;
use crate::session::{Epoch, Proof};

/// A user's MFA state: the record the host stores, one per user.
///
/// The factor set goes `Disabled → Pending → Active → Disabled`
/// ([`FactorState`]; an active set holds an app, passkeys, or both); beside
/// it the record keeps the security [`Epoch`], which moves on whenever a
/// factor is bound or unbound or an operator resets the record (I12), the
/// count of completed logins that makes each
/// [`LoginChallenge`](crate::session::LoginChallenge) single-use, a passkey
/// registration waiting for the browser, and the step-up and passwordless
/// challenges spent (I14).
///
/// Transitions are pure methods that consume the record and return a
/// [`Transition`]: the next record, whether it changed, the outcome, and
/// security events. Time (`now`, unix seconds) and randomness are
/// parameters, so the same inputs give the same result.
///
/// Serialized with serde in a versioned, self-describing format (`"format":
/// "mfa/3"`); see [`MfaEnrollment::to_json`]. Secrets inside are encrypted
/// and backup codes hashed, so a record can be stored as it is.
/// [`MfaEnrollment::default`] is the record of a user who never had one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MfaEnrollment {
    pub(crate) factor: FactorState,
    pub(crate) epoch: Epoch,
    /// Logins completed through a login challenge (I12).
    pub(crate) logins: u64,
    /// A passkey registration begun and not yet finished (I14).
    pub(crate) passkey_registration: Option<PendingPasskey>,
    /// Step-up and passwordless challenges completed (I14): kept whatever
    /// happens to the factors.
    pub(crate) spent: SpentChallenges,
}

/// Where the factor stands.
///
/// The active set is much larger than the other states; it is not boxed,
/// because records move by value through every transition and the hot
/// paths (a TOTP check, I13's bounded work) allocate nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FactorState {
    /// No factor.
    #[default]
    Disabled,
    /// Setup begun, waiting for the first code. Never authenticates (I5).
    Pending(PendingSetup),
    /// A confirmed factor with its backup codes.
    Active(ActiveFactor),
}

/// The result of a transition.
///
/// **Save `state` (with a compare-and-swap) whenever `changed` is true, and
/// only then act on `outcome`**: failed attempts change the state too, and
/// one-time output must not be shown unless the state holding its hashes was
/// saved (I1). [`Mfa`](crate::Mfa) does all of this for you.
#[must_use = "save `state` when `changed`, then act on `outcome`"]
#[derive(Debug)]
pub struct Transition<T> {
    /// The record after the transition.
    pub state: MfaEnrollment,
    /// Whether `state` differs from the record the transition started from.
    pub changed: bool,
    /// What happened.
    pub outcome: Result<T>,
    /// Security events, to report once `state` is saved.
    pub events: Vec<SecurityEvent>,
}
impl MfaEnrollment {
    /// Whether a factor is active.
    pub fn is_active(&self) -> bool {
        matches!(self.factor, FactorState::Active(_))
    }

    /// Where the factor stands.
    pub fn factor(&self) -> &FactorState {
        &self.factor
    }

    /// The security epoch (I12).
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// Checks that a session bound to `epoch` is still valid: that the
    /// factor has not been enabled, disabled, replaced or reset since it was
    /// issued.
    ///
    /// # Errors
    /// [`Error::Revoked`](crate::Error::Revoked) if the epoch moved on.
    pub fn check_epoch(&self, epoch: Epoch) -> Result<()> {
        if epoch == self.epoch {
            Ok(())
        } else {
            Err(crate::Error::Revoked)
        }
    }

    /// Checks that `proof` is recent enough to manage the factor without a
    /// code: a proof of `user_id` (I17), issued under the current epoch, at
    /// most [`Policy::step_up_window_secs`](crate::Policy::step_up_window_secs)
    /// before `now`, and at most [`Proof::MAX_CLOCK_SKEW_SECS`] after it
    /// (servers sharing a store may disagree on the current second, but a
    /// proof from the future must not stay recent for longer).
    ///
    /// # Errors
    /// [`Error::Revoked`](crate::Error::Revoked) for another user's proof or
    /// under another epoch;
    /// [`Error::StepUpRequired`](crate::Error::StepUpRequired) if too old or
    /// too far in the future.
    pub fn check_proof(
        &self,
        config: &MfaContext,
        user_id: &str,
        proof: &Proof,
        now: u64,
    ) -> Result<()> {
        check_proof(config, self.epoch, user_id, proof, now)
    }
}

/// [`MfaEnrollment::check_proof`] against a record at `epoch`.
fn check_proof(
    config: &MfaContext,
    epoch: Epoch,
    user_id: &str,
    proof: &Proof,
    now: u64,
) -> Result<()> {
    if !proof.is_for(user_id) || proof.epoch != epoch {
        return Err(crate::Error::Revoked);
    }
    let recent = match proof.verified_at.checked_sub(now) {
        // From the future: only within the clock skew two servers may have.
        Some(ahead) => ahead <= Proof::MAX_CLOCK_SKEW_SECS,
        None => now - proof.verified_at <= config.policy().step_up_window_secs,
    };
    if recent {
        Ok(())
    } else {
        Err(crate::Error::StepUpRequired)
    }
}
