//! Extractors for the application's own routes.

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use mfa::{MfaEnrollment, Proof};

use crate::problem::Problem;
use crate::{MfaHost, SessionState};

/// A logged-in user whose session is not revoked: the session's state is at
/// the user's current epoch. Otherwise 401 `UNAUTHENTICATED` (no session)
/// or 401 `SESSION_REVOKED` (the factor changed since it was issued).
///
/// ```
/// use mfa_axum::{MfaHost, MfaUser};
///
/// async fn profile<H: MfaHost>(user: MfaUser<H>) -> String {
///     format!("hello, {}", user.state.user_id)
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct MfaUser<H> {
    /// The session's MFA state.
    pub state: SessionState,
    /// The user's MFA record, as loaded to check the session.
    pub record: MfaEnrollment,
    host: PhantomData<fn() -> H>,
}

impl<H: MfaHost> MfaUser<H> {
    /// The user of the request's session, checked against the user's epoch.
    ///
    /// # Errors
    /// 401 `UNAUTHENTICATED` or `SESSION_REVOKED`; the store's errors.
    pub async fn from_parts(host: &H, parts: &Parts) -> Result<Self, Problem> {
        let state = host
            .session(parts)
            .await?
            .ok_or_else(Problem::unauthenticated)?;
        let record = host.mfa().load(&state.user_id).await?;
        record.check_epoch(state.epoch)?;
        Ok(MfaUser {
            state,
            record,
            host: PhantomData,
        })
    }

    /// The session's proof, for an operation that needs a recent one (the
    /// `mfa` crate judges how recent as it runs it).
    ///
    /// # Errors
    /// `STEP_UP_REQUIRED` without one (`MFA_NOT_ENABLED` without a factor).
    pub fn proof(&self) -> Result<Proof, mfa::Error> {
        Proof::required(self.state.proof, &self.record)
    }

    /// The session's proof if it is recent enough for the policy's step-up
    /// window (`Policy::step_up_window_secs`), bound to this user and epoch.
    ///
    /// # Errors
    /// 403 `STEP_UP_REQUIRED` (400 `MFA_NOT_ENABLED` without a factor).
    pub fn recent_proof(&self, host: &H) -> Result<Proof, Problem> {
        let proof = self.proof()?;
        let mfa = host.mfa();
        self.record
            .check_proof(mfa.context(), &self.state.user_id, &proof, mfa.now())?;
        Ok(proof)
    }
}

impl<S, H> FromRequestParts<S> for MfaUser<H>
where
    S: Send + Sync,
    H: MfaHost + FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        MfaUser::from_parts(&H::from_ref(state), parts).await
    }
}

/// A logged-in user whose session holds a proof of a second factor at most
/// `MAX_AGE_SECS` old (and within the policy's step-up window): what a
/// sensitive route of the application asks for. Otherwise what
/// [`MfaUser`] refuses, or 403 `STEP_UP_REQUIRED` (the client steps up at
/// `POST /auth/step-up`), or 400 `MFA_NOT_ENABLED` for a user without a
/// factor.
///
/// ```
/// use mfa_axum::{Fresh, MfaHost};
///
/// /// A transfer: a second factor shown in the last five minutes.
/// async fn transfer<H: MfaHost>(Fresh(user): Fresh<H, 300>) -> String {
///     format!("transfer for {}", user.state.user_id)
/// }
/// ```
#[derive(Debug)]
pub struct Fresh<H, const MAX_AGE_SECS: u64>(pub MfaUser<H>);

impl<S, H, const MAX_AGE_SECS: u64> FromRequestParts<S> for Fresh<H, MAX_AGE_SECS>
where
    S: Send + Sync,
    H: MfaHost + FromRef<S>,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let host = H::from_ref(state);
        let user = MfaUser::from_parts(&host, parts).await?;
        let proof = user.recent_proof(&host)?;
        if host.mfa().now().saturating_sub(proof.verified_at) > MAX_AGE_SECS {
            return Err(mfa::Error::StepUpRequired.into());
        }
        Ok(Fresh(user))
    }
}
