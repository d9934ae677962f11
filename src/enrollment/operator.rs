//! Operator actions: unlock and reset, each recorded with who and why.

use super::effects::{Effects, unchanged};
use super::{FactorState, MfaEnrollment, Transition};
use crate::error::{Error, Result};
use crate::event::SecurityEvent;
use crate::lockout::Attempts;
use crate::text::{is_bidi_control, is_line_break, is_visible};

/// The longest actor or reason accepted, in bytes.
const MAX_NOTE_BYTES: usize = 512;

impl MfaEnrollment {
    /// Clears the failure counter and any lockout, the hard stop after
    /// [`LockoutPolicy::max_consecutive_failures`](crate::lockout::LockoutPolicy::max_consecutive_failures)
    /// included: an operator's action, for after the user's identity was
    /// established another way. Reported as
    /// [`SecurityEvent::OperatorUnlocked`] even when nothing was locked.
    ///
    /// Errors: [`Error::InvalidInput`] if `actor` or `reason` is longer than
    /// 512 bytes, holds a control character, a Unicode line or paragraph
    /// separator or a bidi control, or shows no visible character: each goes
    /// into audit logs as one readable line.
    pub fn operator_unlock(self, actor: &str, reason: &str) -> Transition<()> {
        if let Err(e) = check_note(actor).and_then(|()| check_note(reason)) {
            return unchanged(self, e);
        }
        let mut state = self;
        let mut effects = Effects::none();
        let attempts = match &mut state.factor {
            FactorState::Pending(p) => Some(&mut p.attempts),
            FactorState::Active(a) => Some(&mut a.attempts),
            FactorState::Disabled => None,
        };
        if let Some(attempts) = attempts
            && *attempts != Attempts::default()
        {
            attempts.reset();
            effects.changed = true;
        }
        effects.events.push(SecurityEvent::OperatorUnlocked {
            actor: actor.to_owned(),
            reason: reason.to_owned(),
        });
        effects.exit(state, Ok(()))
    }

    /// Resets the user's MFA: the factor, a pending setup and the backup
    /// codes are deleted, and the epoch moves on (I12), so every session,
    /// login challenge and proof of the user dies. The user enrolls again.
    /// Always a change, also for a user without a factor ("sign out
    /// everywhere").
    ///
    /// Errors: as [`MfaEnrollment::operator_unlock`].
    pub fn operator_reset(self, actor: &str, reason: &str) -> Transition<()> {
        if let Err(e) = check_note(actor).and_then(|()| check_note(reason)) {
            return unchanged(self, e);
        }
        let state = MfaEnrollment {
            factor: FactorState::Disabled,
            epoch: self.epoch.next(),
            logins: self.logins,
            passkey_registration: None,
            spent: self.spent,
        };
        Effects::changed(vec![SecurityEvent::OperatorReset {
            actor: actor.to_owned(),
            reason: reason.to_owned(),
        }])
        .exit(state, Ok(()))
    }
}

/// An actor or reason goes into audit logs: it must say something, briefly,
/// on one line.
fn check_note(note: &str) -> Result<()> {
    if note.trim().is_empty() {
        return Err(Error::InvalidInput(
            "an operator action needs an actor and a reason",
        ));
    }
    if note.len() > MAX_NOTE_BYTES {
        return Err(Error::InvalidInput(
            "an operator's actor or reason is longer than 512 bytes",
        ));
    }
    if note
        .chars()
        .any(|c| c.is_control() || is_line_break(c) || is_bidi_control(c))
    {
        return Err(Error::InvalidInput(
            "an operator's actor or reason holds a control character, a line or paragraph separator or a bidi control",
        ));
    }
    if !note.chars().any(is_visible) {
        return Err(Error::InvalidInput(
            "an operator's actor or reason has no visible character",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check_note;

    /// What reaches the audit log is one readable line that says something.
    #[test]
    fn notes_are_one_visible_line() {
        for bad in [
            "",
            "   ",
            "line\nbreak",
            "line\u{2028}separator",
            "para\u{2029}graph",
            "next\u{85}line",
            "reversed \u{202E}txt.exe",
            "isolate \u{2066}x\u{2069}",
            "mark \u{200F}",
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            "\u{3164}",
            &"x".repeat(513),
        ] {
            assert!(check_note(bad).is_err(), "{bad:?}");
        }
        for good in [
            "support-desk",
            "identity checked by video call",
            "Zoë, ticket #42",
            "本人確認済み",
        ] {
            assert!(check_note(good).is_ok(), "{good:?}");
        }
    }
}
