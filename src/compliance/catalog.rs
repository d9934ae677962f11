//! The requirements, each with the check that reads its setting.
//!
//! NIST ids and statements are the SP 800-63-4 conformance criteria v0.1
//! (`usnistgov/800-63-4-Implementation-Resources`, OSCAL), which quote the
//! final SP 800-63B-4; a SHOULD without an id of its own is named by its
//! section (`§3.1.4.1`); the reauthentication limits of §2.2.3 (SHOULDs) have
//! no id of their own and are reported under `AAL2REA-1`, the SHALL of
//! periodic reauthentication they belong to. ASVS items are OWASP ASVS
//! 5.0 (`OWASP/ASVS`, `5.0/en`).

use super::{Inputs, Level, Profile, Status};

/// Which profiles a requirement belongs to.
#[derive(Clone, Copy)]
pub(super) enum Scope {
    /// NIST SP 800-63B-4 at AAL2.
    Nist,
    /// ASVS 5.0 at this level and above.
    Asvs(u8),
}

impl Scope {
    pub(super) fn includes(self, profile: Profile) -> bool {
        match (self, profile) {
            (Scope::Nist, Profile::Nist800_63B4Aal2) => true,
            (Scope::Asvs(level), Profile::AsvsL2) => level <= 2,
            (Scope::Asvs(_), Profile::AsvsL3) => true,
            _ => false,
        }
    }
}

/// What a check found.
type Verdict = (Status, String);

/// How a requirement is judged.
pub(super) enum Check {
    /// Met by construction: what the crate does.
    Always(&'static str),
    /// Met by construction with passkeys; not applicable without.
    WithPasskeys(&'static str),
    /// The host's, whatever the configuration: what the crate gives it.
    Host(&'static str),
    /// By the setting the requirement names.
    Reads(fn(&Inputs<'_>) -> Verdict),
}

impl Check {
    pub(super) fn judge(&self, i: &Inputs<'_>) -> Verdict {
        match self {
            Check::Always(detail) => met(detail),
            Check::WithPasskeys(detail) => with_passkeys(i, detail),
            Check::Host(detail) => host(detail),
            Check::Reads(check) => check(i),
        }
    }
}

/// One requirement of a source.
pub(super) struct Requirement {
    pub(super) id: &'static str,
    pub(super) source: &'static str,
    pub(super) level: Level,
    pub(super) text: &'static str,
    pub(super) scope: Scope,
    pub(super) setting: Option<&'static str>,
    pub(super) check: Check,
}

const fn nist(
    id: &'static str,
    source: &'static str,
    level: Level,
    text: &'static str,
    setting: Option<&'static str>,
    check: Check,
) -> Requirement {
    Requirement {
        id,
        source,
        level,
        text,
        scope: Scope::Nist,
        setting,
        check,
    }
}

const fn asvs(
    id: &'static str,
    source: &'static str,
    level: u8,
    text: &'static str,
    setting: Option<&'static str>,
    check: Check,
) -> Requirement {
    Requirement {
        id,
        source,
        level: Level::Shall,
        text,
        scope: Scope::Asvs(level),
        setting,
        check,
    }
}

fn verdict(ok: bool, met: String, not_met: String) -> Verdict {
    if ok {
        (Status::Met, met)
    } else {
        (Status::NotMet, not_met)
    }
}

fn met(detail: &str) -> Verdict {
    (Status::Met, detail.to_owned())
}

fn host(detail: &str) -> Verdict {
    (Status::Host, detail.to_owned())
}

/// A requirement the host meets by doing something, as it states.
fn host_fact(fact: Option<bool>, does: &str, does_not: &str, unknown: &str) -> Verdict {
    match fact {
        Some(true) => met(does),
        Some(false) => (Status::NotMet, does_not.to_owned()),
        None => host(unknown),
    }
}

/// A passkey requirement: met by construction with passkeys, not
/// applicable without.
fn with_passkeys(i: &Inputs<'_>, detail: &str) -> Verdict {
    if i.passkeys {
        met(detail)
    } else {
        (
            Status::NotApplicable,
            "passkeys are not offered (no relying party)".to_owned(),
        )
    }
}

// ---- TOTP ----

fn secret_strength(i: &Inputs<'_>) -> Verdict {
    let bits = i.policy.totp.secret_len * 8;
    verdict(
        bits >= 112,
        format!("{bits}-bit secrets with HMAC-{:?}", i.policy.totp.algorithm),
        format!(
            "{bits}-bit secrets: set `totp.secret_len` to at least 14 bytes (the crate's floor is 16)"
        ),
    )
}

fn nonce_period(i: &Inputs<'_>) -> Verdict {
    let period = i.policy.totp.period;
    verdict(
        period <= 120,
        format!("the time step is {period} s"),
        format!("the time step is {period} s: set `totp.period` to at most 120"),
    )
}

fn window(i: &Inputs<'_>) -> u64 {
    (2 * u64::from(i.policy.totp.skew) + 1) * i.policy.totp.period
}

fn lifetime(i: &Inputs<'_>) -> Verdict {
    let skew = i.policy.totp.skew;
    verdict(
        skew <= 1,
        format!(
            "a code is accepted {skew} step(s) either side of now, {} s in all: one step of drift and delay, as RFC 6238 §5.2 recommends",
            window(i)
        ),
        format!(
            "a code is accepted {skew} steps either side of now, {} s in all: RFC 6238 §5.2 recommends at most one; set `totp.skew` to 1",
            window(i)
        ),
    )
}

fn asvs_totp_lifetime(i: &Inputs<'_>) -> Verdict {
    let period = i.policy.totp.period;
    verdict(
        period <= 30,
        format!(
            "{period}-second codes; with `totp.skew` = {} one is accepted for {} s (skew 0 makes that 30 s, for an auditor who reads the lifetime as the acceptance window)",
            i.policy.totp.skew,
            window(i)
        ),
        format!("{period}-second codes: set `totp.period` to 30"),
    )
}

// ---- Throttling ----

fn lockout(i: &Inputs<'_>) -> Verdict {
    let l = &i.policy.lockout;
    verdict(
        l.validate().is_ok(),
        format!(
            "one failure count per user, shared by the app, passkeys and backup codes: delays from the {}th failure ({} s, doubling to {} s), every attempt refused after {}; each attempt is counted before it is checked",
            l.lock_after_failures, l.base_delay_secs, l.max_delay_secs, l.max_consecutive_failures
        ),
        "`lockout` is invalid: `max_consecutive_failures` must be 1 to 100 and `base_delay_secs` at most `max_delay_secs`".to_owned(),
    )
}

fn hard_limit(i: &Inputs<'_>) -> Verdict {
    let limit = i.policy.lockout.max_consecutive_failures;
    verdict(
        (1..=100).contains(&limit),
        format!(
            "after {limit} consecutive failures every code and passkey of the user is refused until an operator unlocks or resets the factor set"
        ),
        format!(
            "{limit} consecutive failures allowed: set `lockout.max_consecutive_failures` to at most 100"
        ),
    )
}

// ---- Backup codes ----

fn code_length(i: &Inputs<'_>) -> Verdict {
    let bits = i.policy.backup_codes.strength.secret_bits();
    verdict(
        bits >= 20,
        format!("{bits} secret bits per code (six decimal digits are 19.9)"),
        format!("{bits} secret bits per code: use a stronger `backup_codes.strength`"),
    )
}

fn hashed(i: &Inputs<'_>) -> Verdict {
    let a = i.policy.backup_codes.argon2;
    verdict(
        a.meets_owasp(),
        format!(
            "Argon2id (m = {} KiB, t = {}, p = {}) with a 128-bit salt per code",
            a.m_cost_kib(),
            a.t_cost(),
            a.p_cost()
        ),
        format!(
            "Argon2id at m = {} KiB, t = {}: below OWASP's table; use `Argon2Params::default()` or `Argon2Params::new`",
            a.m_cost_kib(),
            a.t_cost()
        ),
    )
}

fn recovery_strength(i: &Inputs<'_>) -> Verdict {
    let bits = i.policy.backup_codes.strength.secret_bits();
    verdict(
        bits >= 64,
        format!("{bits} secret bits per code"),
        format!(
            "{bits} secret bits per code: set `backup_codes.strength` to `BackupCodeStrength::NistRecovery` (65 bits)"
        ),
    )
}

fn recovery_notice(i: &Inputs<'_>) -> Verdict {
    host_fact(
        i.host.notifies_factor_changes,
        "the host notifies the user when backup codes are regenerated",
        "the host does not notify: send one on `BackupCodesRegenerated`",
        "notify the user, through a channel independent of the session, on `BackupCodesRegenerated`",
    )
}

fn reissue(i: &Inputs<'_>) -> Verdict {
    verdict(
        i.policy.backup_codes.reissue_on_use,
        "a code used to log in or step up is replaced in the same save by a new one, shown once (`Verified::new_backup_code`); a code used to re-authenticate a management operation is not, nor is an imported set topped up".to_owned(),
        "a used code is invalidated, but no new one is issued in its place: set `backup_codes.reissue_on_use`".to_owned(),
    )
}

// ---- Passkeys and the phishing-resistant option ----

fn phishing_resistant(i: &Inputs<'_>) -> Verdict {
    verdict(
        i.passkeys,
        "passkeys with user verification are offered (`MfaContext::with_relying_party`)".to_owned(),
        "the authenticator app and backup codes are not phishing-resistant: offer passkeys (the `passkeys` feature and `MfaContext::with_relying_party`)".to_owned(),
    )
}

fn verifier_name(i: &Inputs<'_>) -> Verdict {
    if !i.passkeys {
        return with_passkeys(i, "");
    }
    host(
        "assertions are bound to the relying party id and their origin is checked against it; that the id is the host name or a registrable parent of it is the host's configuration",
    )
}

// ---- Binding, records, notifications ----

/// The longest step-up window that still reads as a fresh authentication:
/// the AAL2 inactivity limit (§2.2.3, SHOULD ≤ 1 hour).
const FRESH_SECS: u64 = 60 * 60;

fn reauth_binding(i: &Inputs<'_>) -> Verdict {
    let window = i.policy.step_up_window_secs;
    verdict(
        window <= FRESH_SECS,
        format!(
            "a factor is bound or replaced only with the password and a code, or a proof at most {window} s old (I17)"
        ),
        format!(
            "a proof up to {window} s old binds a factor: set `step_up_window_secs` to at most 3600 (§2.2.3's inactivity limit)"
        ),
    )
}

fn binding_notice(i: &Inputs<'_>) -> Verdict {
    host_fact(
        i.host.notifies_factor_changes,
        "the host notifies the user of every factor added",
        "the host does not notify: send one on `FactorEnabled` and `PasskeyAdded`",
        "notify the user, through a channel independent of the session, on `FactorEnabled`, `PasskeyAdded` and `ReplacementConfirmed`",
    )
}

fn lifecycle_times(i: &Inputs<'_>) -> Verdict {
    host_fact(
        i.host.keeps_event_history,
        "the host keeps the security events, with their times",
        "the host does not keep them: store the crate's security events for the account's lifetime",
        "the record keeps when each current factor was bound; the history of changes is the security events, which the host keeps",
    )
}

fn reauth_timeouts(i: &Inputs<'_>) -> Verdict {
    match (i.host.session_max_age_secs, i.host.session_idle_secs) {
        (Some(max), Some(idle)) => verdict(
            max <= 24 * 60 * 60 && idle <= 60 * 60,
            format!("sessions end after {max} s, or {idle} s idle"),
            format!(
                "sessions end after {max} s, or {idle} s idle: §2.2.3 recommends at most 24 hours and 1 hour"
            ),
        ),
        _ => host(
            "the host's sessions: §2.2.3 recommends reauthentication after at most 24 hours, and 1 hour of inactivity",
        ),
    }
}

// ---- ASVS only ----

fn mfa_required(i: &Inputs<'_>) -> Verdict {
    host(if i.passkeys {
        "whether MFA is required is the application's decision; at L3 one factor is a phishing-resistant passkey, which the application requires"
    } else {
        "whether MFA is required is the application's decision; at L3 one factor must be phishing-resistant: offer passkeys"
    })
}

fn suspicious_notice(i: &Inputs<'_>) -> Verdict {
    host_fact(
        i.host.notifies_suspicious_attempts,
        "the host notifies the user of suspicious attempts",
        "the host does not notify: send one on `Locked` and after repeated `VerificationFailed`",
        "notify the user on `Locked` and after repeated `VerificationFailed`",
    )
}

fn update_notice(i: &Inputs<'_>) -> Verdict {
    host_fact(
        i.host.notifies_factor_changes,
        "the host notifies the user of every change to their factors",
        "the host does not notify: send one on every factor event",
        "notify the user on every factor event (enabled, replaced, passkey added or removed, codes regenerated, disabled)",
    )
}

fn sessions_documented(i: &Inputs<'_>) -> Verdict {
    match (i.host.session_max_age_secs, i.host.session_idle_secs) {
        (Some(max), Some(idle)) => met(&format!("sessions end after {max} s, or {idle} s idle")),
        _ => host("the application documents its session lifetime and inactivity timeout"),
    }
}

fn idle_timeout(i: &Inputs<'_>) -> Verdict {
    match i.host.session_idle_secs {
        Some(idle) => met(&format!("sessions end after {idle} s idle")),
        None => host("the application ends idle sessions"),
    }
}

fn max_lifetime(i: &Inputs<'_>) -> Verdict {
    match i.host.session_max_age_secs {
        Some(max) => met(&format!("sessions end after {max} s")),
        None => host("the application bounds a session's lifetime"),
    }
}

/// Every requirement, NIST first, each in its source's order.
#[rustfmt::skip]
pub(super) static REQUIREMENTS: &[Requirement] = &[
    nist("AAL2AVR-3", "NIST SP 800-63B-4 §2.2.2", Level::Shall,
        "At least one authenticator used at AAL2 is replay-resistant.",
        None, Check::Always("TOTP codes are accepted once; passkey challenges are single-use")),
    nist("AAL2AVR-6", "NIST SP 800-63B-4 §2.2.2", Level::Shall,
        "Verifiers offer at least one phishing-resistant authentication option at AAL2.",
        Some("relying_party"), Check::Reads(phishing_resistant)),
    nist("AAL2REA-1", "NIST SP 800-63B-4 §2.2.3", Level::Shall,
        "Sessions are reauthenticated periodically; the overall timeout SHOULD be at most 24 hours, inactivity at most 1 hour.",
        Some("host.session_max_age_secs, host.session_idle_secs"), Check::Reads(reauth_timeouts)),
    nist("LSA-1", "NIST SP 800-63B-4 §3.1.2.1", Level::Shall,
        "Look-up secrets are generated by an approved random bit generator.",
        None, Check::Host("`Mfa` draws codes and secrets from `rand::rng()`, a CSPRNG (ChaCha12, seeded by the operating system) but not an SP 800-90A DRBG; a host bound to an approved RBG runs the transitions of `MfaEnrollment`, which take the RNG, with its own")),
    nist("LSA-3", "NIST SP 800-63B-4 §3.1.2.1", Level::Shall,
        "Look-up secrets are at least six decimal digits (or equivalent) long.",
        Some("backup_codes.strength"), Check::Reads(code_length)),
    nist("LSV-2", "NIST SP 800-63B-4 §3.1.2.2", Level::Shall,
        "A look-up secret is used successfully only once.",
        None, Check::Always("a code is marked used in the save that accepts it; concurrent uses of one code succeed once")),
    nist("LSV-6", "NIST SP 800-63B-4 §3.1.2.2", Level::Shall,
        "Look-up secrets under 112 bits are stored salted and hashed with a password hashing scheme.",
        Some("backup_codes.argon2"), Check::Reads(hashed)),
    nist("LSV-7", "NIST SP 800-63B-4 §3.1.2.2", Level::Shall,
        "The salt is at least 32 bits, chosen to avoid collisions.",
        None, Check::Always("a 128-bit random salt per code, stored beside its hash")),
    nist("LSV-9", "NIST SP 800-63B-4 §3.1.2.2", Level::Shall,
        "Failed look-up secret attempts on the account are rate-limited (§3.2.2).",
        Some("lockout"), Check::Reads(lockout)),
    nist("SFOA-1", "NIST SP 800-63B-4 §3.1.4.1", Level::Shall,
        "The OTP secret key and its algorithm provide at least 112 bits of security strength.",
        Some("totp.secret_len"), Check::Reads(secret_strength)),
    nist("SFOA-3", "NIST SP 800-63B-4 §3.1.4.1", Level::Shall,
        "A clock-based nonce changes at least once every two minutes.",
        Some("totp.period"), Check::Reads(nonce_period)),
    nist("§3.1.4.1", "NIST SP 800-63B-4 §3.1.4.1", Level::Should,
        "A subscriber who moves an OTP app to a new device binds the new one and invalidates the old.",
        None, Check::Always("a replacement (`begin_replacement`, `confirm_replacement`) binds the new app with the password and a code, and the old secret stops working in the same save")),
    nist("SFOV-4", "NIST SP 800-63B-4 §3.1.4.2", Level::Shall,
        "A given OTP is accepted only once while it is valid.",
        None, Check::Always("each factor keeps the last time step it accepted and accepts only later ones; a backup code is marked used in the same save")),
    nist("SFOV-5", "NIST SP 800-63B-4 §3.1.4.2", Level::Shall,
        "A TOTP's lifetime is set by the expected clock drift plus network delay and entry.",
        Some("totp.skew"), Check::Reads(lifetime)),
    nist("SFOV-6", "NIST SP 800-63B-4 §3.1.4.2", Level::Shall,
        "Failed OTP attempts on the account are rate-limited (SHALL for outputs under 64 bits).",
        Some("lockout"), Check::Reads(lockout)),
    nist("SFCVER-3", "NIST SP 800-63B-4 §3.1.6.2", Level::Shall,
        "The challenge nonce is at least 64 bits and unique or statistically unique.",
        None, Check::WithPasskeys("each ceremony's challenge is 256 random bits, single-use")),
    nist("RL-2", "NIST SP 800-63B-4 §3.2.2", Level::Shall,
        "At most 100 consecutive failed attempts on one authenticator, by disabling it.",
        Some("lockout.max_consecutive_failures"), Check::Reads(hard_limit)),
    nist("RL-3", "NIST SP 800-63B-4 §3.2.2", Level::Shall,
        "When more than one authenticator is involved in excessive attempts, all are disabled.",
        None, Check::Host("the crate's factors share one count, so they are disabled together; the password's lock is the host's (the example server keeps one per account). The v0.1 criteria are stricter here than the §3.2.2 prose")),
    nist("RL-4", "NIST SP 800-63B-4 §3.2.2", Level::Shall,
        "A disabled authenticator must be bound again to be usable.",
        None, Check::Host("`Mfa::operator_unlock` re-enables a hard-locked factor set without binding it again; to meet the v0.1 criteria (stricter than the §3.2.2 prose, which only limits attempts) an operator uses `Mfa::operator_reset`, after which the user enrols again")),
    nist("RL-5", "NIST SP 800-63B-4 §3.2.2", Level::Shall,
        "A retry count reset after success does not raise the authenticator above the session's AAL.",
        None, Check::Always("only a successful verification of the factor set resets its count, in the session that verification authenticates")),
    nist("VNB-3", "NIST SP 800-63B-4 §3.2.5.2", Level::Shall,
        "The verifier identifier is the verifier's host name or a parent domain below the public suffix.",
        None, Check::Reads(verifier_name)),
    nist("AUTHB-2", "NIST SP 800-63B-4 §4.1", Level::Shall,
        "The CSP keeps a record of all authenticators bound to each account.",
        None, Check::Always("the record lists the app and every passkey bound, with the time each was bound")),
    nist("AUTHB-5", "NIST SP 800-63B-4 §4.1", Level::Shall,
        "The record holds the date and time of significant authenticator life-cycle events.",
        Some("host.keeps_event_history"), Check::Reads(lifecycle_times)),
    nist("BAA-2", "NIST SP 800-63B-4 §4.1.2.1", Level::Shall,
        "Binding a new authenticator requires authentication at the account's maximum AAL (or the new one's, whichever is lower).",
        Some("step_up_window_secs"), Check::Reads(reauth_binding)),
    nist("BAA-3", "NIST SP 800-63B-4 §4.1.2.1", Level::Shall,
        "The subscriber is notified of an added authenticator through an independent mechanism.",
        Some("host.notifies_factor_changes"), Check::Reads(binding_notice)),
    nist("SRC-1", "NIST SP 800-63B-4 §4.2.1.1", Level::Shall,
        "A saved recovery code holds at least 64 bits from an approved random bit generator.",
        Some("backup_codes.strength"), Check::Reads(recovery_strength)),
    nist("SRC-2", "NIST SP 800-63B-4 §4.2.1.1", Level::Shall,
        "Issuing a replacement recovery code sends an account recovery notification.",
        Some("host.notifies_factor_changes"), Check::Reads(recovery_notice)),
    nist("SRC-3", "NIST SP 800-63B-4 §4.2.1.1", Level::Shall,
        "Verifying saved recovery codes is throttled (§3.2.2).",
        None, Check::Always("backup codes count on the user's one failure count and lockout, charged before the hash runs")),
    nist("SRC-4", "NIST SP 800-63B-4 §4.2.1.1", Level::Shall,
        "Saved recovery codes are stored hashed with an approved one-way function.",
        None, Check::Always("only Argon2id hashes of the codes are stored")),
    nist("SRC-5", "NIST SP 800-63B-4 §4.2.1.1", Level::Shall,
        "After a saved recovery code is used, it is invalidated and a new one is issued.",
        Some("backup_codes.reissue_on_use"), Check::Reads(reissue)),
    nist("SB-4", "NIST SP 800-63B-4 §5.1", Level::Shall,
        "\"Remember my browser\" is not used instead of authentication (beyond AAL2's inactivity reauthentication).",
        None, Check::Host("a login on a remembered device carries no proof (`LoginStep::RememberedDevice`): it is AAL1, and the host steps up before anything that needs AAL2")),
    nist("IMPR-1", "NIST SP 800-63B-4 App. B.3", Level::Shall,
        "Verifiers prefer user verification and inspect the UV flag of every response.",
        None, Check::WithPasskeys("user verification is required in every ceremony and the UV flag of every response is checked")),
    nist("IMPR-2", "NIST SP 800-63B-4 App. B.3", Level::Shall,
        "Without user verification, a syncable authenticator counts as single-factor.",
        None, Check::WithPasskeys("an assertion without user verification is refused, never counted as a second factor")),
    asvs("6.1.1", "OWASP ASVS 5.0 V6.1 (L1)", 1,
        "Rate limiting and anti-automation are documented, including how they prevent malicious lockout.",
        None, Check::Host("the crate's lockout is documented (`mfa::guide::security`, \"What the crate enforces\"); the application's documentation carries it with its own per-client limits")),
    asvs("6.3.3", "OWASP ASVS 5.0 V6.3 (L2)", 2,
        "Multi-factor authentication is required; at L3 one factor is hardware-based and phishing-resistant.",
        None, Check::Reads(mfa_required)),
    asvs("6.3.5", "OWASP ASVS 5.0 V6.3 (L3)", 3,
        "Users are notified of suspicious authentication attempts.",
        Some("host.notifies_suspicious_attempts"), Check::Reads(suspicious_notice)),
    asvs("6.3.7", "OWASP ASVS 5.0 V6.3 (L3)", 3,
        "Users are notified after updates to authentication details.",
        Some("host.notifies_factor_changes"), Check::Reads(update_notice)),
    asvs("6.5.1", "OWASP ASVS 5.0 V6.5 (L2)", 2,
        "Lookup secrets and TOTPs are successfully usable only once.",
        None, Check::Always("a TOTP code's time step is accepted once per factor, and a backup code is marked used in the save that accepts it")),
    asvs("6.5.2", "OWASP ASVS 5.0 V6.5 (L2)", 2,
        "Lookup secrets under 112 bits are hashed with an approved password hashing algorithm and a 32-bit salt.",
        Some("backup_codes.argon2"), Check::Reads(hashed)),
    asvs("6.5.3", "OWASP ASVS 5.0 V6.5 (L2)", 2,
        "Lookup secrets and TOTP seeds come from a CSPRNG.",
        None, Check::Always("codes and TOTP seeds come from a CSPRNG (`rand::rng()`, seeded by the operating system)")),
    asvs("6.5.4", "OWASP ASVS 5.0 V6.5 (L2)", 2,
        "Lookup secrets have at least 20 bits of entropy.",
        Some("backup_codes.strength"), Check::Reads(code_length)),
    asvs("6.5.5", "OWASP ASVS 5.0 V6.5 (L2)", 2,
        "A TOTP has a defined lifetime of at most 30 seconds.",
        Some("totp.period"), Check::Reads(asvs_totp_lifetime)),
    asvs("6.5.6", "OWASP ASVS 5.0 V6.5 (L3)", 3,
        "Any authentication factor can be revoked in case of theft or loss.",
        None, Check::Always("the app, each passkey and the backup codes can be removed by the user, and the whole set reset by an operator")),
    asvs("6.5.8", "OWASP ASVS 5.0 V6.5 (L3)", 3,
        "TOTPs are checked against a trusted time source, not a client-provided time.",
        None, Check::Always("codes are checked against the server's clock (`Mfa`'s `Clock`), never a time the client sends")),
    asvs("6.7.2", "OWASP ASVS 5.0 V6.7 (L3)", 3,
        "The challenge nonce is at least 64 bits and statistically unique.",
        None, Check::WithPasskeys("each ceremony's challenge is 256 random bits, single-use")),
    asvs("7.1.1", "OWASP ASVS 5.0 V7.1 (L2)", 2,
        "The session inactivity timeout and absolute lifetime are documented.",
        Some("host.session_max_age_secs, host.session_idle_secs"), Check::Reads(sessions_documented)),
    asvs("7.3.1", "OWASP ASVS 5.0 V7.3 (L2)", 2,
        "An inactivity timeout enforces re-authentication.",
        Some("host.session_idle_secs"), Check::Reads(idle_timeout)),
    asvs("7.3.2", "OWASP ASVS 5.0 V7.3 (L2)", 2,
        "An absolute maximum session lifetime enforces re-authentication.",
        Some("host.session_max_age_secs"), Check::Reads(max_lifetime)),
    asvs("7.4.3", "OWASP ASVS 5.0 V7.4 (L2)", 2,
        "All other sessions can be terminated after a change of any authentication factor.",
        None, Check::Always("enabling, replacing, disabling or resetting MFA moves the user's security epoch, which revokes every earlier session bound to it (`check_epoch`), login challenge and proof")),
    asvs("7.5.1", "OWASP ASVS 5.0 V7.5 (L2)", 2,
        "Full re-authentication precedes changes to the MFA configuration.",
        Some("step_up_window_secs"), Check::Reads(reauth_binding)),
    asvs("11.5.1", "OWASP ASVS 5.0 V11.5 (L2)", 2,
        "Non-guessable random values come from a CSPRNG with at least 128 bits of entropy.",
        None, Check::Always("remembered-device tokens and passkey challenges are 256 random bits from a CSPRNG")),
];
