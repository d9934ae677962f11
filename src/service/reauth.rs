//! A re-authentication kept for an operation's retries.

use std::sync::Arc;

use zeroize::Zeroizing;

use crate::enrollment::{Argon2Work, Paid, Reauth, SubmittedCode};
use crate::session::Proof;

/// A [`Reauth`] that outlives the caller's borrow, for an operation's
/// retries; a code that may be a backup code is charged and hashed once
/// for them all (I13, I16).
pub(super) enum OwnedReauth {
    RecentProof(Proof),
    TotpCode(Zeroizing<String>),
    Code(Arc<SubmittedCode>),
}

impl From<Reauth<'_>> for OwnedReauth {
    fn from(reauth: Reauth<'_>) -> Self {
        match reauth {
            Reauth::RecentProof(proof) => OwnedReauth::RecentProof(*proof),
            Reauth::TotpCode(code) => OwnedReauth::TotpCode(Zeroizing::new(code.to_owned())),
            Reauth::Code(code) => OwnedReauth::Code(Arc::new(SubmittedCode::new(code, false))),
        }
    }
}

impl OwnedReauth {
    pub(super) fn as_reauth(&self) -> (Reauth<'_>, Option<&Paid>) {
        match self {
            OwnedReauth::RecentProof(proof) => (Reauth::RecentProof(proof), None),
            OwnedReauth::TotpCode(code) => (Reauth::TotpCode(code), None),
            OwnedReauth::Code(code) => {
                let check = code.check();
                (Reauth::Code(check.code), check.paid)
            }
        }
    }

    /// The slow work of the code, if it may be a backup code.
    pub(super) fn work(&self) -> Argon2Work<'_> {
        match self {
            OwnedReauth::Code(code) => Argon2Work {
                code: Some(code),
                ..Argon2Work::default()
            },
            OwnedReauth::RecentProof(_) | OwnedReauth::TotpCode(_) => Argon2Work::default(),
        }
    }
}
