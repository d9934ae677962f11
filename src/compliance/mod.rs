//! The configuration audited against NIST SP 800-63B-4 and OWASP ASVS 5.0.
//!
//! [`MfaContext::compliance`] reads the policy (and whether passkeys are
//! offered) and what the host states of itself ([`HostFacts`]), and returns
//! one [`Finding`] per requirement of a [`Profile`]: the source's own id
//! (NIST's conformance-criteria ids such as `SFOV-4`, ASVS's `6.5.1`), the
//! section, SHALL or SHOULD, the requirement in a line, whether it is met,
//! the setting it read and what to change. The report serializes to JSON and
//! prints as a Markdown table.
//!
//! ```
//! use mfa::compliance::{HostFacts, Profile, Status};
//! use mfa::{KeyId, Keyring, MasterKey, MfaContext, Policy};
//!
//! let keyring = Keyring::new(KeyId(1), MasterKey::generate(&mut rand::rng()));
//! let context = MfaContext::new(keyring, Policy::new("Example Co")).unwrap();
//! let report = context.compliance(Profile::Nist800_63B4Aal2, &HostFacts::unknown());
//! // The default policy's 40-bit backup codes are too short for saved
//! // recovery codes (SRC-1).
//! let src1 = report.findings().iter().find(|f| f.id == "SRC-1").unwrap();
//! assert_eq!(src1.status, Status::NotMet);
//! println!("{}", report.to_markdown());
//! ```
//!
//! The report is as good as its sources: each finding cites the section that
//! says what it says, and where NIST's conformance criteria (v0.1) are
//! stricter than the prose of SP 800-63B-4, the detail says so.

mod catalog;
mod checks;

use serde::Serialize;

use crate::policy::{MfaContext, Policy};

/// Which requirements a report checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Profile {
    /// NIST SP 800-63B-4 (2025) at authentication assurance level 2, by the
    /// ids of the SP 800-63-4 conformance criteria (v0.1).
    #[serde(rename = "nist-800-63b-4-aal2")]
    Nist800_63B4Aal2,
    /// OWASP ASVS 5.0, levels 1 and 2.
    #[serde(rename = "asvs-5.0-l2")]
    AsvsL2,
    /// OWASP ASVS 5.0, levels 1 to 3.
    #[serde(rename = "asvs-5.0-l3")]
    AsvsL3,
}

impl Profile {
    /// Every profile.
    pub const ALL: [Profile; 3] = [Profile::Nist800_63B4Aal2, Profile::AsvsL2, Profile::AsvsL3];

    /// The profile's name as it serializes (`nist-800-63b-4-aal2`,
    /// `asvs-5.0-l2`, `asvs-5.0-l3`).
    pub const fn name(self) -> &'static str {
        match self {
            Profile::Nist800_63B4Aal2 => "nist-800-63b-4-aal2",
            Profile::AsvsL2 => "asvs-5.0-l2",
            Profile::AsvsL3 => "asvs-5.0-l3",
        }
    }
}

/// How binding a requirement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum Level {
    /// SHALL (or SHALL NOT); for ASVS, a requirement of the profile's levels.
    Shall,
    /// SHOULD: recommended.
    Should,
}

/// Where a requirement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// The configuration meets it.
    Met,
    /// The configuration does not meet it: the detail says what to change.
    NotMet,
    /// The host's duty, and the host has not stated that it does it
    /// ([`HostFacts`]); the detail says what the crate gives it to do so.
    Host,
    /// Does not apply to this configuration (a passkey requirement without
    /// passkeys).
    NotApplicable,
}

impl Status {
    /// `met`, `not met`, `host`, `n/a`: as the Markdown table prints it.
    pub const fn label(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::NotMet => "not met",
            Status::Host => "host",
            Status::NotApplicable => "n/a",
        }
    }
}

/// What only the host knows about itself, for the report to be complete.
/// Each fact is `None` until the host states it; a requirement that rests
/// on an unstated fact is reported as [`Status::Host`].
///
/// ```
/// let mut host = mfa::compliance::HostFacts::unknown();
/// host.session_max_age_secs = Some(12 * 60 * 60);
/// host.session_idle_secs = Some(30 * 60);
/// host.notifies_factor_changes = Some(true);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct HostFacts {
    /// The overall session lifetime after which the user authenticates again.
    pub session_max_age_secs: Option<u64>,
    /// The inactivity after which a session ends.
    pub session_idle_secs: Option<u64>,
    /// Whether the user is notified, through a channel independent of the
    /// session (e-mail, say), when a factor is added, replaced or removed and
    /// when backup codes are regenerated (the crate's
    /// [`SecurityEvent`](crate::event::SecurityEvent)s say when).
    pub notifies_factor_changes: Option<bool>,
    /// Whether the user is notified of suspicious attempts: a lockout, a
    /// login after several failures (the crate's `Locked` and
    /// `VerificationFailed` events).
    pub notifies_suspicious_attempts: Option<bool>,
    /// Whether the crate's security events are kept, with their times, for
    /// the account's lifetime: the history of its authenticators.
    pub keeps_event_history: Option<bool>,
}

impl HostFacts {
    /// Nothing stated.
    pub const fn unknown() -> Self {
        HostFacts {
            session_max_age_secs: None,
            session_idle_secs: None,
            notifies_factor_changes: None,
            notifies_suspicious_attempts: None,
            keeps_event_history: None,
        }
    }
}

/// One requirement and where the configuration stands on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The source's own id: NIST's conformance-criteria id (`SFOV-4`), the
    /// section of a NIST SHOULD that has none (`§3.1.4.1`), or ASVS's
    /// requirement number (`6.5.1`).
    pub id: &'static str,
    /// Document and section (`NIST SP 800-63B-4 §3.1.4.2`,
    /// `OWASP ASVS 5.0 V6.5 (L2)`).
    pub source: &'static str,
    /// SHALL or SHOULD.
    pub level: Level,
    /// The requirement in a line.
    pub requirement: &'static str,
    /// Where the configuration stands.
    pub status: Status,
    /// The setting read (`backup_codes.strength`, `host.session_idle_secs`),
    /// if any: a requirement without one is met by construction.
    pub setting: Option<&'static str>,
    /// What was found, and what to change when it is not met.
    pub detail: String,
}

/// The findings of one profile, in the sources' order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    profile: Profile,
    findings: Vec<Finding>,
}

impl Report {
    /// The profile checked.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Every finding.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The findings not met.
    pub fn not_met(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == Status::NotMet)
    }

    /// The findings left to the host.
    pub fn host(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == Status::Host)
    }

    /// The report as a Markdown table: id, source, level, requirement,
    /// status, setting, detail. `|` in a cell is escaped.
    pub fn to_markdown(&self) -> String {
        let cell = |text: &str| text.replace('|', "\\|");
        let mut out = String::from(
            "| id | source | level | requirement | status | setting | detail |\n\
             |---|---|---|---|---|---|---|\n",
        );
        for f in &self.findings {
            let level = match f.level {
                Level::Shall => "SHALL",
                Level::Should => "SHOULD",
            };
            let setting = f.setting.map(|s| format!("`{s}`")).unwrap_or_default();
            out.push_str(&format!(
                "| {} | {} | {level} | {} | {} | {} | {} |\n",
                f.id,
                cell(f.source),
                cell(f.requirement),
                f.status.label(),
                cell(&setting),
                cell(&f.detail)
            ));
        }
        out
    }
}

impl MfaContext {
    /// Audits this configuration against `profile`: the policy, whether
    /// passkeys are offered (a relying party, with the `passkeys` feature),
    /// and what `host` states of itself. See the [module](crate::compliance).
    pub fn compliance(&self, profile: Profile, host: &HostFacts) -> Report {
        audit(self.policy(), self.offers_passkeys(), profile, host)
    }

    /// Whether passkeys are offered: the feature and a relying party.
    fn offers_passkeys(&self) -> bool {
        #[cfg(feature = "passkeys")]
        return self.relying_party().is_ok();
        #[cfg(not(feature = "passkeys"))]
        return false;
    }
}

/// What every check reads.
pub(crate) struct Inputs<'a> {
    pub(crate) policy: &'a Policy,
    pub(crate) passkeys: bool,
    pub(crate) host: &'a HostFacts,
}

/// The report of `profile` for a policy, with or without passkeys. The
/// policy need not be valid: an invalid value is reported, not refused.
pub(crate) fn audit(policy: &Policy, passkeys: bool, profile: Profile, host: &HostFacts) -> Report {
    let inputs = Inputs {
        policy,
        passkeys,
        host,
    };
    let findings = catalog::REQUIREMENTS
        .iter()
        .filter(|r| r.scope.includes(profile))
        .map(|r| {
            let verdict = r.check.judge(&inputs);
            Finding {
                id: r.id,
                source: r.source,
                level: r.level,
                requirement: r.text,
                status: verdict.0,
                setting: r.setting,
                detail: verdict.1,
            }
        })
        .collect();
    Report { profile, findings }
}

#[cfg(test)]
mod tests;
