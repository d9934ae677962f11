//! Passkeys as JSON, in the forms of the WebAuthn browser API: the options
//! for `navigator.credentials.create()` and `.get()` as
//! `{"publicKey": {...}}`, and a browser's answer
//! (`PublicKeyCredential.toJSON()`) read from a body's field.

use serde_json::{Value, json};

use crate::errors::Problem;

/// WebAuthn options as `{"publicKey": {...}}` in the JSON forms, without the
/// `null` members those forms do not have.
pub fn options_json<T: serde::Serialize>(options: &T) -> Value {
    fn strip(value: &mut Value) {
        match value {
            Value::Object(members) => {
                members.retain(|_, v| !v.is_null());
                members.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(options).unwrap_or_default();
    strip(&mut value);
    json!({ "publicKey": value["publicKey"].take() })
}

/// A credential from a body's `field` (`PublicKeyCredential.toJSON()`):
/// 400 `VALIDATION_FAILED` when it is missing or not shaped like one.
pub fn credential<T: serde::de::DeserializeOwned>(
    value: Option<Value>,
    field: &str,
) -> Result<T, Problem> {
    let value = value.ok_or_else(|| Problem::required(field))?;
    serde_json::from_value(value)
        .map_err(|_| Problem::validation(&format!("`{field}` is not a WebAuthn credential.")))
}
