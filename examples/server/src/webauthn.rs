//! WebAuthn on the wire: the relying party of `--rp-id` and `--origin`, the
//! options sent to the browser and the credentials it sends back.
//!
//! Options go out as `{"publicKey": {...}}` in the WebAuthn Level 3 JSON
//! forms (every binary member base64url without padding), ready for
//! `PublicKeyCredential.parseCreationOptionsFromJSON` and
//! `parseRequestOptionsFromJSON`; credentials come back as the browser's
//! `PublicKeyCredential.toJSON()` gives them. The checks themselves are the
//! crate's (`mfa::passkey`, on `webauthn-rs`).

use mfa::passkey::{PublicKeyCredential, RegisterPublicKeyCredential, RelyingParty};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// The relying party and the origins it was built for.
pub struct Party {
    pub party: RelyingParty,
    pub origins: Vec<String>,
    /// Whether the origins are the default, `http://localhost:<port>`.
    pub default_origin: bool,
}

/// The relying party `rp_id` for `origins`, or for `http://localhost:<port>`
/// when none is given. An origin that is not a URL, or that the id does not
/// cover, is an error: the server does not start.
pub fn relying_party(rp_id: &str, origins: &[String], port: u16) -> Result<Party, String> {
    let default_origin = origins.is_empty();
    let origins = if default_origin {
        vec![format!("http://localhost:{port}")]
    } else {
        origins.to_vec()
    };
    for origin in &origins {
        let well_formed = origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
        });
        if !well_formed {
            return Err(format!(
                "--origin {origin:?} is not an origin (a scheme, a host and an optional port, \
                 such as https://login.example.com)"
            ));
        }
    }
    let named: Vec<&str> = origins.iter().map(String::as_str).collect();
    let party = RelyingParty::new(rp_id, "MFA Example", &named).map_err(|e| {
        format!(
            "passkeys: the relying party id {rp_id:?} does not cover every origin ({}): {e}; \
             the id must be each origin's host or a parent domain of it",
            origins.join(", ")
        )
    })?;
    Ok(Party {
        party,
        origins,
        default_origin,
    })
}

/// Options for the browser as JSON, without the `null` members that the
/// JSON forms do not have (a browser would read `null` as the string
/// `"null"`).
pub fn options<T: Serialize>(options: &T) -> Result<Value, ApiError> {
    let mut value = serde_json::to_value(options)
        .map_err(|_| ApiError::internal("passkey options did not serialize"))?;
    strip_nulls(&mut value);
    Ok(value)
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
pub fn registration(
    value: Option<Value>,
    field: &str,
) -> Result<RegisterPublicKeyCredential, ApiError> {
    credential(value, field)
}

/// An assertion (`navigator.credentials.get()`), from the `field` of a
/// body: 400 `VALIDATION_FAILED` when it is missing or not shaped like one.
pub fn assertion(value: Option<Value>, field: &str) -> Result<PublicKeyCredential, ApiError> {
    credential(value, field)
}

fn credential<T: DeserializeOwned>(value: Option<Value>, field: &str) -> Result<T, ApiError> {
    let value = value.ok_or_else(|| ApiError::validation(format!("`{field}` is required.")))?;
    serde_json::from_value(value).map_err(|_| {
        ApiError::validation(format!(
            "`{field}` is not a WebAuthn credential as PublicKeyCredential.toJSON() gives it."
        ))
    })
}

/// Unix seconds as an RFC 3339 date and time in UTC, such as
/// `2026-01-31T12:00:00Z`.
pub fn rfc3339(secs: u64) -> String {
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
    fn the_relying_party_must_cover_every_origin() {
        let party = relying_party("localhost", &[], 8080).unwrap();
        assert_eq!(party.origins, ["http://localhost:8080"]);
        assert!(party.default_origin);
        let origins = ["https://login.example.com".to_owned()];
        assert!(relying_party("example.com", &origins, 1).is_ok());
        assert!(relying_party("other.com", &origins, 1).is_err());
        assert!(relying_party("example.com", &[], 1).is_err(), "localhost");
        let bad = ["https://example.com/path".to_owned()];
        assert!(relying_party("example.com", &bad, 1).is_err());
        let two = [
            "https://example.com".to_owned(),
            "https://evil.test".to_owned(),
        ];
        assert!(relying_party("example.com", &two, 1).is_err());
    }

    #[test]
    fn nulls_are_left_out() {
        let mut value = serde_json::json!({"a": null, "b": [{"c": null, "d": 1}]});
        strip_nulls(&mut value);
        assert_eq!(value, serde_json::json!({"b": [{"d": 1}]}));
    }
}
