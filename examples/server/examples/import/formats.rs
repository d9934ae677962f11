//! The factor a line describes, in its source system's terms (the guide's
//! "Migrating from another system", `mfa::guide::migration`).

use mfa::import::{CodeCase, ImportedFactor};
use mfa::totp::TotpParams;
use serde_json::Value;

/// The factor a line describes, in its source's terms.
pub fn factor(format: &str, v: &Value) -> mfa::Result<ImportedFactor> {
    let text = |key: &'static str| -> mfa::Result<&str> {
        v.get(key)
            .and_then(Value::as_str)
            .ok_or(mfa::Error::InvalidImport("a required field is missing"))
    };
    let number = |key: &str| v.get(key).and_then(Value::as_i64);
    let defaults = TotpParams::default();
    let factor = match format {
        "otpauth" => {
            let factor = ImportedFactor::from_otpauth_uri(text("otpauthUrl")?)?;
            let case = match v.get("caseSensitive").and_then(Value::as_bool) {
                Some(false) => CodeCase::Insensitive,
                _ => CodeCase::Sensitive,
            };
            match strings(v.get("backupCodes"))? {
                Some(codes) => factor.with_plain_backup_codes(codes, case)?,
                None => factor,
            }
        }
        "django-otp" => {
            let params = TotpParams {
                digits: u8::try_from(number("digits").unwrap_or(6)).unwrap_or(0),
                period: u64::try_from(number("step").unwrap_or(30)).unwrap_or(0),
                ..defaults
            };
            let mut factor = ImportedFactor::from_hex(text("key")?, params)?
                .with_t0(u64::try_from(number("t0").unwrap_or(0)).unwrap_or(0));
            // `last_t` is -1 until a token is accepted.
            if let Some(last) = number("last_t").and_then(|t| u64::try_from(t).ok()) {
                factor = factor.with_last_step(last);
            }
            match strings(v.get("static_tokens"))? {
                Some(codes) => factor.with_plain_backup_codes(codes, CodeCase::Insensitive)?,
                None => factor,
            }
        }
        "devise-two-factor" | "gitlab" => {
            let mut factor = ImportedFactor::from_base32(text("otp_secret")?, defaults)?;
            if let Some(step) = number("consumed_timestep").and_then(|t| u64::try_from(t).ok()) {
                factor = factor.with_last_step(step);
            }
            match (format, strings(v.get("otp_backup_codes"))?) {
                (_, None) => factor,
                ("gitlab", Some(hashes)) => factor.with_pbkdf2_sha512_backup_codes(hashes)?,
                (_, Some(hashes)) => {
                    let pepper = v.get("pepper").and_then(Value::as_str).unwrap_or("");
                    factor.with_bcrypt_backup_codes(hashes, pepper)?
                }
            }
        }
        "fortify" => {
            let factor = ImportedFactor::from_base32(text("two_factor_secret")?, defaults)?;
            // Fortify keeps the codes as a JSON array in one (encrypted) column:
            // exported as that JSON text, or as the array itself.
            let parsed = match v.get("two_factor_recovery_codes") {
                Some(Value::String(json)) => {
                    Some(serde_json::from_str::<Value>(json).map_err(|_| {
                        mfa::Error::InvalidImport("two_factor_recovery_codes is not a JSON array")
                    })?)
                }
                other => other.cloned(),
            };
            match strings(parsed.as_ref())? {
                Some(codes) => factor.with_plain_backup_codes(codes, CodeCase::Sensitive)?,
                None => factor,
            }
        }
        "aspnet-identity" => {
            let factor = ImportedFactor::from_base32(text("AuthenticatorKey")?, defaults)?;
            match v.get("RecoveryCodes").and_then(Value::as_str) {
                Some(codes) if !codes.is_empty() => factor.with_plain_backup_codes(
                    codes.split(';').filter(|c| !c.is_empty()),
                    CodeCase::Insensitive,
                )?,
                _ => factor,
            }
        }
        "kratos" => {
            let factor = ImportedFactor::from_otpauth_uri(text("totp_url")?)?;
            let unused: Option<Vec<&str>> = match v.get("recovery_codes") {
                None | Some(Value::Null) => None,
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .filter(|item| item.get("used_at").is_none_or(Value::is_null))
                        .map(|item| item.get("code").and_then(Value::as_str))
                        .collect::<Option<_>>()
                        .ok_or(mfa::Error::InvalidImport("a recovery code has no code"))?,
                ),
                Some(_) => return Err(mfa::Error::InvalidImport("recovery_codes is not a list")),
            };
            match unused {
                Some(codes) => factor.with_plain_backup_codes(codes, CodeCase::Insensitive)?,
                None => factor,
            }
        }
        _ => return Err(mfa::Error::InvalidImport("unknown format")),
    };
    Ok(factor)
}

/// A list of strings, if the field is present.
fn strings(value: Option<&Value>) -> mfa::Result<Option<Vec<&str>>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or(mfa::Error::InvalidImport("a backup code is not a string")),
        Some(_) => Err(mfa::Error::InvalidImport("the backup codes are not a list")),
    }
}
