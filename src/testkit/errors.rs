//! One value of every [`Error`] variant, for tests that must cover them all
//! (problem documents, messages that must not leak a secret, machine codes).

use crate::error::{CodeFormatError, Error};

/// Every variant of [`Error`], [`Error::MalformedCode`] and
/// [`Error::LockedOut`] in each of their forms, with realistic details.
///
/// ```
/// let codes: Vec<&str> = mfa::testkit::every_error().iter().map(mfa::Error::code).collect();
/// assert!(mfa::Error::CODES.iter().all(|c| codes.contains(c)));
/// ```
pub fn every_error() -> Vec<Error> {
    let every = vec![
        Error::InvalidCode,
        Error::MalformedCode(CodeFormatError::Empty),
        Error::MalformedCode(CodeFormatError::WrongLength {
            expected: 6,
            found: 7,
        }),
        Error::MalformedCode(CodeFormatError::InvalidCharacter),
        Error::NoPendingSetup,
        Error::PendingExpired,
        Error::MfaNotEnabled,
        Error::MfaAlreadyEnabled,
        Error::LockedOut {
            retry_after: Some(30),
        },
        Error::LockedOut { retry_after: None },
        Error::InvalidChallenge,
        Error::Revoked,
        Error::StepUpRequired,
        Error::StoreConflict,
        Error::store_unavailable("connection refused"),
        Error::CorruptRecord("expected value at line 1 column 1".into()),
        Error::DecryptionFailed,
        Error::UnknownKey(9),
        Error::InvalidInput("the account name is not allowed"),
        Error::WeakSecret { bits: 80 },
        Error::InvalidImport("the secret is not hex"),
        Error::InvalidConfig("bad"),
        Error::InvalidPasskey,
        Error::PasskeyAlreadyRegistered,
        Error::TooManyPasskeys,
        Error::LastFactor,
        Error::PasskeyNotFound,
        Error::Internal("a hashing task failed"),
    ];
    every.iter().for_each(listed);
    every
}

/// No wildcard arm: a variant added to [`Error`] stops this compiling until
/// it is added to [`every_error`] too.
fn listed(error: &Error) {
    match error {
        Error::InvalidCode
        | Error::MalformedCode(_)
        | Error::NoPendingSetup
        | Error::PendingExpired
        | Error::MfaNotEnabled
        | Error::MfaAlreadyEnabled
        | Error::LockedOut { .. }
        | Error::InvalidChallenge
        | Error::Revoked
        | Error::StepUpRequired
        | Error::StoreConflict
        | Error::StoreUnavailable(_)
        | Error::CorruptRecord(_)
        | Error::DecryptionFailed
        | Error::UnknownKey(_)
        | Error::InvalidInput(_)
        | Error::WeakSecret { .. }
        | Error::InvalidImport(_)
        | Error::InvalidConfig(_)
        | Error::InvalidPasskey
        | Error::PasskeyAlreadyRegistered
        | Error::TooManyPasskeys
        | Error::LastFactor
        | Error::PasskeyNotFound
        | Error::Internal(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Error::CODES` lists the code of every variant, in order, and nothing else.
    #[test]
    fn codes_lists_every_variant_once() {
        let mut codes: Vec<&str> = every_error().iter().map(Error::code).collect();
        codes.dedup();
        assert_eq!(codes, Error::CODES);
    }
}
