//! The checks that read a setting, by the id of the requirement each
//! judges, and the verdicts every requirement shares.

use super::{Inputs, Status};

/// What a check found: the status, and the detail the report prints.
pub(super) type Verdict = (Status, String);

/// A check that reads the configuration.
pub(super) type Reads = fn(&Inputs<'_>) -> Verdict;

/// The checks, by the id of the requirement each judges: one for every row
/// of `catalog.md` judged `reads`, and none other.
pub(super) const READS: &[(&str, Reads)] = &[
    ("AAL2AVR-6", phishing_resistant),
    ("AAL2REA-1", reauth_timeouts),
    ("LSA-3", code_length),
    ("LSV-6", hashed),
    ("LSV-9", lockout),
    ("SFOA-1", secret_strength),
    ("SFOA-3", nonce_period),
    ("SFOV-5", lifetime),
    ("SFOV-6", lockout),
    ("RL-2", hard_limit),
    ("VNB-3", verifier_name),
    ("BAA-2", reauth_binding),
    ("SRC-1", recovery_strength),
    ("SRC-5", reissue),
    ("6.3.3", mfa_required),
    ("6.5.2", hashed),
    ("6.5.4", code_length),
    ("6.5.5", asvs_totp_lifetime),
    ("7.1.1", sessions_documented),
    ("7.3.1", idle_timeout),
    ("7.3.2", max_lifetime),
    ("7.5.1", reauth_binding),
];

/// The check of the requirement `id`, if it has one.
pub(super) fn reads(id: &str) -> Option<Reads> {
    READS
        .iter()
        .find(|(check, _)| *check == id)
        .map(|&(_, check)| check)
}

/// Met with one detail, or not met with the other.
fn verdict(ok: bool, met: String, not_met: String) -> Verdict {
    if ok {
        (Status::Met, met)
    } else {
        (Status::NotMet, not_met)
    }
}

/// Met, with `detail`.
pub(super) fn met(detail: &str) -> Verdict {
    (Status::Met, detail.to_owned())
}

/// The host's, with `detail`.
pub(super) fn host(detail: &str) -> Verdict {
    (Status::Host, detail.to_owned())
}

/// A requirement the host meets by doing something, as it states.
pub(super) fn host_fact(fact: Option<bool>, does: &str, does_not: &str, unknown: &str) -> Verdict {
    match fact {
        Some(true) => met(does),
        Some(false) => (Status::NotMet, does_not.to_owned()),
        None => host(unknown),
    }
}

/// A passkey requirement: met by construction with passkeys, not
/// applicable without.
pub(super) fn with_passkeys(i: &Inputs<'_>, detail: &str) -> Verdict {
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
    let window = window(i);
    verdict(
        skew <= 1,
        format!(
            "a code is accepted {skew} step(s) either side of now, {window} s in all: one step of drift and delay, as RFC 6238 §5.2 recommends"
        ),
        format!(
            "a code is accepted {skew} steps either side of now, {window} s in all: RFC 6238 §5.2 recommends at most one; set `totp.skew` to 1"
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
