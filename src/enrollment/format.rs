//! The serialized record format. Every released format stays loadable (I9):
//! a new format gets a new `format` tag and a conversion from the old one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ActiveFactor, FactorState, MfaEnrollment, PendingSetup};
use crate::error::{Error, Result};
use crate::session::Epoch;

/// The format tag this release writes.
pub(crate) const RECORD_FORMAT: &str = "mfa/2";

#[derive(Serialize)]
#[serde(tag = "format")]
enum WireRef<'a> {
    #[serde(rename = "mfa/2")]
    V2(RecordRefV2<'a>),
}

/// `mfa/2`: the factor, and beside it the epoch and the login count (I12).
#[derive(Serialize)]
struct RecordRefV2<'a> {
    epoch: Epoch,
    logins: u64,
    factor: FactorRef<'a>,
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
    V1(Factor),
    #[serde(rename = "mfa/2")]
    V2(RecordV2),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordV2 {
    epoch: Epoch,
    logins: u64,
    factor: Factor,
}

/// The factor, as both formats write it.
#[derive(Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Factor {
    Disabled,
    Pending(PendingSetup),
    Active(ActiveFactor),
}

impl From<Factor> for FactorState {
    fn from(factor: Factor) -> Self {
        match factor {
            Factor::Disabled => FactorState::Disabled,
            Factor::Pending(p) => FactorState::Pending(p),
            Factor::Active(a) => FactorState::Active(a),
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
        WireRef::V2(RecordRefV2 {
            epoch: self.epoch,
            logins: self.logins,
            factor,
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
                epoch: Epoch::default(),
                logins: 0,
            },
            Wire::V2(v2) => MfaEnrollment {
                factor: v2.factor.into(),
                epoch: v2.epoch,
                logins: v2.logins,
            },
        };
        record.validate().map_err(serde::de::Error::custom)?;
        Ok(record)
    }
}

impl MfaEnrollment {
    /// The format tag this release writes into every record (`"mfa/2"`).
    pub const FORMAT: &'static str = RECORD_FORMAT;

    fn validate(&self) -> std::result::Result<(), &'static str> {
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
                a.totp.validate().map_err(|_| "invalid TOTP parameters")?;
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
            r#"{"format":"mfa/2","epoch":0,"logins":0,"factor":{"state":"disabled"}}"#
        );
        assert_eq!(
            MfaEnrollment::from_json(&json).unwrap(),
            MfaEnrollment::default()
        );
        let v1 = MfaEnrollment::from_json(r#"{"format":"mfa/1","state":"disabled"}"#).unwrap();
        assert_eq!(v1, MfaEnrollment::default());
        for bad in [
            "",
            "null",
            "{}",
            r#"{"format":"mfa/3","state":"disabled"}"#,
            r#"{"format":"mfa/2","state":"disabled"}"#,
            r#"{"format":"mfa/2","epoch":-1,"logins":0,"factor":{"state":"disabled"}}"#,
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
