//! The serialized record format. Every released format stays loadable (I9):
//! a new format gets a new `format` tag and a conversion from the old one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ActiveFactor, MfaEnrollment, PendingSetup};
use crate::error::{Error, Result};

/// The format tag this release writes.
pub(crate) const RECORD_FORMAT: &str = "mfa/1";

#[derive(Serialize)]
#[serde(tag = "format")]
enum WireRef<'a> {
    #[serde(rename = "mfa/1")]
    V1(StateRefV1<'a>),
}

#[derive(Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum StateRefV1<'a> {
    Disabled,
    Pending(&'a PendingSetup),
    Active(&'a ActiveFactor),
}

#[derive(Deserialize)]
#[serde(tag = "format")]
enum Wire {
    #[serde(rename = "mfa/1")]
    V1(StateV1),
}

#[derive(Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum StateV1 {
    Disabled,
    Pending(PendingSetup),
    Active(ActiveFactor),
}

impl Serialize for MfaEnrollment {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let state = match self {
            MfaEnrollment::Disabled => StateRefV1::Disabled,
            MfaEnrollment::Pending(p) => StateRefV1::Pending(p),
            MfaEnrollment::Active(a) => StateRefV1::Active(a),
        };
        WireRef::V1(state).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for MfaEnrollment {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let Wire::V1(state) = Wire::deserialize(deserializer)?;
        let record = match state {
            StateV1::Disabled => MfaEnrollment::Disabled,
            StateV1::Pending(p) => MfaEnrollment::Pending(p),
            StateV1::Active(a) => MfaEnrollment::Active(a),
        };
        record.validate().map_err(serde::de::Error::custom)?;
        Ok(record)
    }
}

impl MfaEnrollment {
    /// The format tag this release writes into every record (`"mfa/1"`).
    pub const FORMAT: &'static str = RECORD_FORMAT;

    fn validate(&self) -> std::result::Result<(), &'static str> {
        match self {
            MfaEnrollment::Disabled => Ok(()),
            MfaEnrollment::Pending(p) => {
                p.totp.validate().map_err(|_| "invalid TOTP parameters")?;
                if p.expires_at < p.created_at {
                    return Err("a pending setup expires before it was created");
                }
                Ok(())
            }
            MfaEnrollment::Active(a) => {
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
        let json = MfaEnrollment::Disabled.to_json();
        assert_eq!(json, r#"{"format":"mfa/1","state":"disabled"}"#);
        assert_eq!(
            MfaEnrollment::from_json(&json).unwrap(),
            MfaEnrollment::Disabled
        );
        for bad in [
            "",
            "null",
            "{}",
            r#"{"format":"mfa/2","state":"disabled"}"#,
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
