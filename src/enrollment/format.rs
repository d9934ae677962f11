//! The serialized record format. Every released format stays loadable (I9):
//! a new format gets a new `format` tag and a conversion from the old one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ActiveFactor, FactorState, MfaEnrollment, PendingSetup, RememberedDevice};
use super::{Replacement, TotpApp};
use crate::backup::StoredBackupCodes;
use crate::error::{Error, Result};
use crate::keys::Envelope;
use crate::lockout::Attempts;
use crate::passkey::{PendingPasskey, SpentChallenges};
use crate::session::Epoch;
use crate::totp::TotpParams;

/// The format tag this release writes.
pub(crate) const RECORD_FORMAT: &str = "mfa/3";

#[derive(Serialize)]
#[serde(tag = "format")]
enum WireRef<'a> {
    #[serde(rename = "mfa/3")]
    V3(RecordRefV3<'a>),
}

/// `mfa/3`: the factor set (an app and passkeys), the epoch, the login
/// count (I12), a pending passkey registration and the spent step-up and
/// passwordless challenges (I14).
#[derive(Serialize)]
struct RecordRefV3<'a> {
    epoch: Epoch,
    logins: u64,
    factor: FactorRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    passkey_registration: Option<&'a PendingPasskey>,
    #[serde(skip_serializing_if = "SpentChallenges::is_empty")]
    spent: &'a SpentChallenges,
}

#[derive(Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum FactorRef<'a> {
    Disabled,
    Pending(&'a PendingSetup),
    Active(&'a ActiveFactor),
}

#[derive(Deserialize)]
#[serde(tag = "format")]
enum Wire {
    /// `mfa/1`: the factor alone, at the tag's level.
    #[serde(rename = "mfa/1")]
    V1(FactorV2),
    /// `mfa/2`: the factor (one app), the epoch and the login count.
    #[serde(rename = "mfa/2")]
    V2(RecordV2),
    #[serde(rename = "mfa/3")]
    V3(RecordV3),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordV2 {
    epoch: Epoch,
    logins: u64,
    factor: FactorV2,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordV3 {
    epoch: Epoch,
    logins: u64,
    factor: FactorV3,
    #[serde(default)]
    passkey_registration: Option<PendingPasskey>,
    #[serde(default)]
    spent: SpentChallenges,
}

/// The factor as `mfa/1` and `mfa/2` write it: an active factor is one app.
#[derive(Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum FactorV2 {
    Disabled,
    Pending(PendingSetup),
    Active(ActiveV2),
}

/// The factor as `mfa/3` writes it: the states of [`FactorState`].
#[allow(clippy::large_enum_variant)]
#[derive(Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum FactorV3 {
    Disabled,
    Pending(PendingSetup),
    Active(ActiveFactor),
}

/// An active factor of `mfa/1` and `mfa/2`: the app's fields beside the
/// shared ones.
#[derive(Deserialize)]
struct ActiveV2 {
    secret: Envelope,
    totp: TotpParams,
    enabled_at: u64,
    last_step: Option<u64>,
    #[serde(default)]
    t0: u64,
    backup_codes: StoredBackupCodes,
    #[serde(default)]
    attempts: Attempts,
    #[serde(default)]
    replacement: Option<Replacement>,
    #[serde(default)]
    devices: Vec<RememberedDevice>,
}

impl From<FactorV2> for FactorState {
    fn from(factor: FactorV2) -> Self {
        match factor {
            FactorV2::Disabled => FactorState::Disabled,
            FactorV2::Pending(p) => FactorState::Pending(p),
            FactorV2::Active(a) => {
                let app = TotpApp {
                    secret: a.secret,
                    totp: a.totp,
                    last_step: a.last_step,
                    t0: a.t0,
                };
                let mut set = ActiveFactor::new(a.enabled_at, Some(app), a.backup_codes);
                set.attempts = a.attempts;
                set.replacement = a.replacement;
                set.devices = a.devices;
                FactorState::Active(set)
            }
        }
    }
}

impl From<FactorV3> for FactorState {
    fn from(factor: FactorV3) -> Self {
        match factor {
            FactorV3::Disabled => FactorState::Disabled,
            FactorV3::Pending(p) => FactorState::Pending(p),
            FactorV3::Active(a) => FactorState::Active(a),
        }
    }
}

impl Serialize for MfaEnrollment {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let factor = match &self.factor {
            FactorState::Disabled => FactorRef::Disabled,
            FactorState::Pending(p) => FactorRef::Pending(p),
            FactorState::Active(a) => FactorRef::Active(a),
        };
        WireRef::V3(RecordRefV3 {
            epoch: self.epoch,
            logins: self.logins,
            factor,
            passkey_registration: self.passkey_registration.as_ref(),
            spent: &self.spent,
        })
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MfaEnrollment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let record = match Wire::deserialize(deserializer)? {
            // Written before epochs existed: every session and challenge of
            // that release is bound to the first epoch.
            Wire::V1(factor) => MfaEnrollment {
                factor: factor.into(),
                ..MfaEnrollment::default()
            },
            Wire::V2(v2) => MfaEnrollment {
                factor: v2.factor.into(),
                epoch: v2.epoch,
                logins: v2.logins,
                ..MfaEnrollment::default()
            },
            Wire::V3(v3) => MfaEnrollment {
                factor: v3.factor.into(),
                epoch: v3.epoch,
                logins: v3.logins,
                passkey_registration: v3.passkey_registration,
                spent: v3.spent,
            },
        };
        record.validate().map_err(serde::de::Error::custom)?;
        Ok(record)
    }
}

impl MfaEnrollment {
    /// The format tag this release writes into every record (`"mfa/3"`).
    pub const FORMAT: &'static str = RECORD_FORMAT;

    fn validate(&self) -> std::result::Result<(), &'static str> {
        if let Some(pending) = &self.passkey_registration {
            pending.validate()?;
        }
        match &self.factor {
            FactorState::Disabled => Ok(()),
            FactorState::Pending(p) => {
                p.totp.validate().map_err(|_| "invalid TOTP parameters")?;
                if p.expires_at < p.created_at {
                    return Err("a pending setup expires before it was created");
                }
                Ok(())
            }
            FactorState::Active(a) => {
                if let Some(app) = &a.app {
                    app.totp.validate().map_err(|_| "invalid TOTP parameters")?;
                } else if a.passkeys.is_empty() {
                    return Err("an active factor set holds no factor");
                }
                for passkey in &a.passkeys {
                    passkey.validate()?;
                }
                let mut ids: Vec<&[u8]> = a.passkeys.iter().map(|p| p.credential_id()).collect();
                ids.sort_unstable();
                if ids.windows(2).any(|w| w[0] == w[1]) {
                    return Err("a credential is registered twice");
                }
                a.backup_codes.validate()
            }
        }
    }

    /// The record as JSON, in the current format.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("records always serialize")
    }

    /// Loads a record written by this or any earlier release. Never panics.
    ///
    /// # Errors
    /// [`Error::CorruptRecord`] if the text is not a valid record.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::CorruptRecord(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_round_trip_and_rejections() {
        let json = MfaEnrollment::default().to_json();
        assert_eq!(
            json,
            r#"{"format":"mfa/3","epoch":0,"logins":0,"factor":{"state":"disabled"}}"#
        );
        assert_eq!(
            MfaEnrollment::from_json(&json).unwrap(),
            MfaEnrollment::default()
        );
        let v1 = MfaEnrollment::from_json(r#"{"format":"mfa/1","state":"disabled"}"#).unwrap();
        assert_eq!(v1, MfaEnrollment::default());
        let v2 = r#"{"format":"mfa/2","epoch":3,"logins":2,"factor":{"state":"disabled"}}"#;
        assert_eq!(MfaEnrollment::from_json(v2).unwrap().epoch(), Epoch::new(3));
        for bad in [
            "",
            "null",
            "{}",
            r#"{"format":"mfa/4","state":"disabled"}"#,
            r#"{"format":"mfa/2","state":"disabled"}"#,
            r#"{"format":"mfa/3","epoch":-1,"logins":0,"factor":{"state":"disabled"}}"#,
            r#"{"format":"mfa/3","epoch":0,"logins":0,"factor":{"state":"disabled"},"x":1}"#,
            r#"{"format":"mfa/2","epoch":0,"logins":0,"factor":{"state":"disabled"},"x":1}"#,
            r#"{"format":"mfa/1","state":"active"}"#,
            r#"{"format":"mfa/1","state":"pending","secret":"AA"}"#,
        ] {
            assert!(
                matches!(MfaEnrollment::from_json(bad), Err(Error::CorruptRecord(_))),
                "{bad}"
            );
        }
    }
}
