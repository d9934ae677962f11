//! A software passkey for the tests: `webauthn-authenticator-rs`'s
//! `SoftPasskey`, claiming user verification, at the test origin.
#![allow(dead_code)]

use mfa::passkey::{
    CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse,
};
use mfa::testkit::TEST_ORIGIN;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{AllowCredentials, UserVerificationPolicy};

/// One authenticator holding the credentials it registered.
pub struct Authenticator {
    soft: SoftPasskey,
    origin: url::Url,
    credentials: Vec<Vec<u8>>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::at(TEST_ORIGIN)
    }
}

impl Authenticator {
    /// An authenticator in a browser at `origin`.
    pub fn at(origin: &str) -> Self {
        Authenticator {
            soft: SoftPasskey::new(true),
            origin: origin.parse().unwrap(),
            credentials: Vec::new(),
        }
    }

    /// Creates a credential for `options`. The soft passkey cannot keep a
    /// discoverable credential, so it is asked for a plain one; the server
    /// cannot tell (browsers report it only in an extension).
    pub fn register(&mut self, options: &CreationChallengeResponse) -> RegisterPublicKeyCredential {
        let mut options = options.clone();
        if let Some(selection) = &mut options.public_key.authenticator_selection {
            selection.require_resident_key = false;
            selection.resident_key = None;
        }
        let created = self
            .soft
            .do_registration(self.origin.clone(), options)
            .expect("the soft passkey registers");
        self.credentials.push(created.raw_id.to_vec());
        created
    }

    /// Answers `options` with user verification. An empty allow list
    /// (passwordless) is filled with this authenticator's latest credential,
    /// as a browser would pick a discoverable one.
    pub fn assert(&mut self, options: &RequestChallengeResponse) -> PublicKeyCredential {
        self.answer(options, UserVerificationPolicy::Required)
    }

    /// Answers `options` without user verification (the UV flag unset).
    pub fn assert_without_uv(&mut self, options: &RequestChallengeResponse) -> PublicKeyCredential {
        self.answer(options, UserVerificationPolicy::Discouraged_DO_NOT_USE)
    }

    fn answer(
        &mut self,
        options: &RequestChallengeResponse,
        uv: UserVerificationPolicy,
    ) -> PublicKeyCredential {
        let mut options = options.clone();
        options.public_key.user_verification = uv;
        if options.public_key.allow_credentials.is_empty() {
            let id = self.credentials.last().expect("a registered credential");
            options.public_key.allow_credentials = vec![AllowCredentials {
                type_: "public-key".into(),
                id: id.clone(),
                transports: None,
            }];
        }
        self.soft
            .do_authentication(self.origin.clone(), options)
            .expect("the soft passkey answers")
    }
}
