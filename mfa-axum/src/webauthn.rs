//! WebAuthn on the wire: the options sent to the browser and the
//! credentials it sends back.
//!
//! Options go out as `{"publicKey": {...}}` in the WebAuthn Level 3 JSON
//! forms (every binary member base64url without padding), ready for
//! `PublicKeyCredential.parseCreationOptionsFromJSON` and
//! `parseRequestOptionsFromJSON`; credentials come back as the browser's
//! `PublicKeyCredential.toJSON()` gives them. The checks themselves are the
//! `mfa` crate's (`mfa::passkey`, on `webauthn-rs`).

use mfa::passkey::{PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::problem::Problem;

/// The `publicKey` member of options for the browser (`{"publicKey":
/// {...}}`), without the `null` members that the JSON forms do not have (a
/// browser would read `null` as the string `"null"`).
pub(crate) fn public_key<T: Serialize>(options: &T) -> Result<Value, Problem> {
    let mut value = serde_json::to_value(options).map_err(Problem::internal)?;
    strip_nulls(&mut value);
    Ok(value["publicKey"].take())
}

/// The `publicKey` member of request options as a challenge began them.
pub(crate) fn request_public_key(
    options: Option<&RequestChallengeResponse>,
) -> Result<Value, Problem> {
    public_key(options.ok_or_else(|| Problem::internal("a new challenge has no options"))?)
}

fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(members) => {
            members.retain(|_, v| !v.is_null());
            members.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A new credential (`navigator.credentials.create()`), from the `field`
/// of a body: 400 `VALIDATION_FAILED` when it is missing or not shaped like
/// one.
pub(crate) fn registration(
    value: Option<Value>,
    field: &str,
) -> Result<RegisterPublicKeyCredential, Problem> {
    credential(value, field)
}

/// An assertion (`navigator.credentials.get()`), from the `field` of a
/// body: 400 `VALIDATION_FAILED` when it is missing or not shaped like one.
pub(crate) fn assertion(value: Option<Value>, field: &str) -> Result<PublicKeyCredential, Problem> {
    credential(value, field)
}

fn credential<T: DeserializeOwned>(value: Option<Value>, field: &str) -> Result<T, Problem> {
    let value = value.ok_or_else(|| Problem::validation(&format!("`{field}` is required.")))?;
    serde_json::from_value(value).map_err(|_| {
        Problem::validation(&format!(
            "`{field}` is not a WebAuthn credential as PublicKeyCredential.toJSON() gives it."
        ))
    })
}

/// An assertion refused at a step that authenticates: 401
/// `INVALID_PASSKEY`, counted like a wrong code; a spent, foreign or
/// outdated challenge is `INVALID_PASSKEY` too. A lockout stays 429.
pub(crate) fn refused_assertion(error: mfa::Error) -> Problem {
    let error = match error {
        mfa::Error::InvalidChallenge => mfa::Error::InvalidPasskey,
        e => e,
    };
    let passkey = matches!(error, mfa::Error::InvalidPasskey);
    let problem = Problem::from(error);
    if passkey {
        problem.with_status(401)
    } else {
        problem
    }
}

/// Unix seconds as an RFC 3339 date and time in UTC, such as
/// `2026-01-31T12:00:00Z`.
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rest = secs % 86_400;
    // Civil from days (proleptic Gregorian), after Howard Hinnant.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn nulls_are_left_out() {
        let mut value = serde_json::json!({"a": null, "b": [{"c": null, "d": 1}]});
        strip_nulls(&mut value);
        assert_eq!(value, serde_json::json!({"b": [{"d": 1}]}));
    }

    #[test]
    fn a_refused_assertion_is_401_but_a_lockout_stays_429() {
        assert_eq!(
            refused_assertion(mfa::Error::InvalidChallenge).status(),
            401
        );
        assert_eq!(
            refused_assertion(mfa::Error::InvalidPasskey).code(),
            "INVALID_PASSKEY"
        );
        let locked = mfa::Error::LockedOut {
            retry_after: Some(30),
        };
        assert_eq!(refused_assertion(locked).status(), 429);
    }
}
