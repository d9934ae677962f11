//! The service's passkey operations: each a load → transition →
//! compare-and-swap save, with an assertion charged before its check (I16)
//! and every ceremony completing at most once (I14).

use std::sync::Arc;

use super::{Call, Mfa, OwnedReauth};
use crate::enrollment::Reauth;
use crate::error::Result;
use crate::passkey::StoredPasskey;
use crate::session::Proof;
use crate::store::MfaStore;

impl<S: MfaStore> Mfa<S> {
    /// Renames a passkey; see
    /// [`MfaEnrollment::rename_passkey`](crate::MfaEnrollment::rename_passkey).
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn rename_passkey(
        &self,
        user_id: &str,
        id: &str,
        name: &str,
    ) -> Result<StoredPasskey> {
        let (user, id, name) = (user_id.to_owned(), id.to_owned(), name.to_owned());
        self.run(
            Call::new("rename_passkey", user_id),
            move |record, config, _| {
                record.rename_passkey(config, &user, &id, &name, &mut rand::rng())
            },
        )
        .await
    }

    /// Removes a passkey after re-authentication; see
    /// [`MfaEnrollment::remove_passkey`](crate::MfaEnrollment::remove_passkey).
    ///
    /// # Errors
    /// As the transition, plus store errors.
    pub async fn remove_passkey(
        &self,
        user_id: &str,
        id: &str,
        reauth: Reauth<'_>,
    ) -> Result<Proof> {
        let (user, id) = (user_id.to_owned(), id.to_owned());
        let reauth = Arc::new(OwnedReauth::from(reauth));
        let shared = Arc::clone(&reauth);
        self.run(
            Call::new("remove_passkey", user_id).with(reauth.work()),
            move |record, config, now| {
                let reauth = shared.as_reauth();
                record.remove_passkey_with(config, &user, &id, reauth, now, &mut rand::rng())
            },
        )
        .await
    }
}

#[cfg(feature = "passkeys")]
mod ceremonies {
    use std::sync::Arc;

    use super::super::{Call, Minted};
    use crate::backup::FreshCodes;
    use crate::enrollment::{Argon2Work, SubmittedAssertion, Verified};
    use crate::error::{Error, Result};
    use crate::passkey::{
        ChallengeKind, CreationChallengeResponse, PasskeyAdded, PasskeyChallenge,
        PublicKeyCredential, RegisterPublicKeyCredential,
    };
    use crate::service::Mfa;
    use crate::session::{LoginChallenge, Proof};
    use crate::store::MfaStore;

    impl<S: MfaStore> Mfa<S> {
        /// Begins registering a passkey; see
        /// [`MfaEnrollment::begin_passkey_registration`](crate::MfaEnrollment::begin_passkey_registration). Check the password
        /// first: with the session's proof (recent, while MFA is on), that is
        /// the re-authentication binding a factor needs (I17).
        ///
        /// # Errors
        /// As the transition; [`Error::InvalidConfig`] for a store without
        /// a credential index (I15); store errors.
        pub async fn begin_passkey_registration(
            &self,
            user_id: &str,
            account_name: &str,
            proof: Option<&Proof>,
        ) -> Result<CreationChallengeResponse> {
            // A store without the index could bind one credential to two users.
            self.store.passkey_owner(&[]).await?;
            let (user, account) = (user_id.to_owned(), account_name.to_owned());
            let proof = proof.copied();
            self.run(
                Call::new("begin_passkey_registration", user_id),
                move |record, config, now| {
                    record.begin_passkey_registration(
                        config,
                        &user,
                        &account,
                        proof.as_ref(),
                        now,
                        &mut rand::rng(),
                    )
                },
            )
            .await
        }

        /// Finishes registering a passkey; see
        /// [`MfaEnrollment::confirm_passkey_registration`](crate::MfaEnrollment::confirm_passkey_registration). The store's
        /// credential index refuses a credential another user holds, in the
        /// save itself (I15); the backup codes of a first factor are hashed
        /// once, on the bounded pool (I13).
        ///
        /// # Errors
        /// As the transition, plus store errors.
        pub async fn confirm_passkey_registration(
            &self,
            user_id: &str,
            name: &str,
            credential: &RegisterPublicKeyCredential,
            proof: Option<&Proof>,
        ) -> Result<PasskeyAdded> {
            let (user, name, proof) = (user_id.to_owned(), name.to_owned(), proof.copied());
            let credential = Arc::new(credential.clone());
            let fresh = Minted::default();
            let codes = Arc::clone(&fresh);
            let work = Argon2Work {
                mint: Some(&fresh),
                mint_first_factor_only: true,
                ..Argon2Work::default()
            };
            self.run(
                Call::new("confirm_passkey_registration", user_id).with(work),
                move |record, config, now| {
                    record.confirm_passkey_registration_with(
                        config,
                        &user,
                        &name,
                        &credential,
                        proof.as_ref(),
                        &mut FreshCodes::lock(&codes),
                        now,
                        &mut rand::rng(),
                    )
                },
            )
            .await
        }

        /// Begins a step-up with a passkey; see
        /// [`MfaEnrollment::begin_passkey_step_up`](crate::MfaEnrollment::begin_passkey_step_up). Writes nothing.
        ///
        /// # Errors
        /// As the transition, plus store errors.
        pub async fn begin_passkey_step_up(&self, user_id: &str) -> Result<PasskeyChallenge> {
            let record = self.load(user_id).await?;
            let now = self.clock.now();
            record.begin_passkey_step_up(&self.config, user_id, now, &mut rand::rng())
        }

        /// Steps up with a passkey, at most once per challenge; see
        /// [`MfaEnrollment::step_up_with_passkey`](crate::MfaEnrollment::step_up_with_passkey).
        ///
        /// # Errors
        /// As the transition, plus store errors.
        pub async fn step_up_with_passkey(
            &self,
            user_id: &str,
            challenge: &PasskeyChallenge,
            credential: &PublicKeyCredential,
        ) -> Result<Verified> {
            let kind = ChallengeKind::StepUp;
            self.run_with_assertion("step_up_with_passkey", user_id, kind, challenge, credential)
                .await
        }

        /// Completes a login's second step with a passkey, at most once; see
        /// [`MfaEnrollment::complete_login_with_passkey`](crate::MfaEnrollment::complete_login_with_passkey).
        ///
        /// # Errors
        /// As the transition, plus store errors.
        pub async fn complete_login_with_passkey(
            &self,
            challenge: &LoginChallenge,
            credential: &PublicKeyCredential,
        ) -> Result<Verified> {
            let Some(state) = &challenge.passkey else {
                return Err(Error::InvalidChallenge);
            };
            let kind = ChallengeKind::Login;
            let submitted = Arc::new(SubmittedAssertion::new(credential, kind, state));
            let (shared, open) = (Arc::clone(&submitted), Arc::new(challenge.clone()));
            let user = challenge.user_id().to_owned();
            let work = Argon2Work {
                challenge: Some(challenge),
                assertion: Some(&submitted),
                ..Argon2Work::default()
            };
            self.run(
                Call::new("complete_login_with_passkey", challenge.user_id()).with(work),
                move |record, config, now| {
                    record.complete_login_with_passkey_checked(
                        config,
                        &user,
                        &open,
                        shared.assertion(),
                        now,
                        &mut rand::rng(),
                    )
                },
            )
            .await
        }

        /// Begins a passwordless login; see
        /// [`MfaContext::begin_passwordless`](crate::MfaContext::begin_passwordless).
        /// Touches no store.
        ///
        /// # Errors
        /// As `MfaContext::begin_passwordless`.
        pub fn begin_passwordless(&self) -> Result<PasskeyChallenge> {
            self.config
                .begin_passwordless(self.clock.now(), &mut rand::rng())
        }

        /// Completes a passwordless login: the store's credential index
        /// names the user (I15), whose record checks the assertion and
        /// spends the challenge (I14); see
        /// [`MfaEnrollment::complete_passwordless`](crate::MfaEnrollment::complete_passwordless). Returns the user and the
        /// verification, whose proof the new session keeps.
        ///
        /// # Errors
        /// [`Error::InvalidPasskey`] for every failure but a lock
        /// ([`Error::LockedOut`]) and the store's own errors.
        pub async fn complete_passwordless(
            &self,
            challenge: &PasskeyChallenge,
            credential: &PublicKeyCredential,
        ) -> Result<(String, Verified)> {
            if challenge.expires_at <= self.clock.now() {
                return Err(Error::InvalidPasskey);
            }
            let id = credential.get_credential_id();
            let owner = self.store.passkey_owner(id).await?;
            let user = owner.ok_or(Error::InvalidPasskey)?;
            let kind = ChallengeKind::Passwordless;
            let verified = self
                .run_with_assertion("complete_passwordless", &user, kind, challenge, credential)
                .await?;
            Ok((user, verified))
        }

        /// Runs a step-up or passwordless completion: the assertion charged
        /// and checked at most once for the operation's retries (I16).
        async fn run_with_assertion(
            &self,
            op: &'static str,
            user_id: &str,
            kind: ChallengeKind,
            challenge: &PasskeyChallenge,
            credential: &PublicKeyCredential,
        ) -> Result<Verified> {
            let submitted = Arc::new(SubmittedAssertion::new(credential, kind, &challenge.state));
            let (shared, open) = (Arc::clone(&submitted), Arc::new(challenge.clone()));
            let user = user_id.to_owned();
            let work = Argon2Work {
                assertion: Some(&submitted),
                passkey_challenge: Some((challenge, user_id)),
                ..Argon2Work::default()
            };
            self.run(
                Call::new(op, user_id).with(work),
                move |record, config, now| {
                    record.spend_checked(
                        config,
                        &user,
                        kind,
                        &open,
                        shared.assertion(),
                        now,
                        &mut rand::rng(),
                    )
                },
            )
            .await
        }
    }
}
