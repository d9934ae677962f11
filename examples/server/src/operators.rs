//! Operator tokens, each with the name of the operator who holds it.
//!
//! - `MFA_ADMIN_TOKENS` (or the file named by `--admin-tokens`): one
//!   operator per line, `name:token`. Blank lines and lines starting with
//!   `#` are skipped. A name is 1 to 64 characters of ASCII letters, digits,
//!   `.`, `_`, `-` and `@`, starting with a letter or a digit; a token is at
//!   least 32 visible ASCII characters. Names and tokens are unique.
//! - `MFA_ADMIN_TOKEN`: one token, whose operator is named `operator`; alone
//!   or beside a list.
//!
//! Only the SHA-256 digest of each token is kept. A request's bearer token is
//! compared with every digest in constant time, so that neither a token nor
//! which operator holds it leaks through timing. The operator's name is the
//! actor of every security event the request causes; no JWT is ever an
//! operator token.

use std::path::Path;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use crate::AppState;
use crate::auth::bearer;
use crate::error::ApiError;

/// The name of the operator of `MFA_ADMIN_TOKEN`.
pub const DEFAULT_NAME: &str = "operator";

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 32;

/// The longest operator name.
const MAX_NAME_LEN: usize = 64;

/// The configured operators: names and token digests.
pub struct Operators {
    names: Vec<String>,
    digests: Vec<[u8; 32]>,
}

impl Operators {
    /// The operators of `MFA_ADMIN_TOKENS` or `file` (not both), and of
    /// `MFA_ADMIN_TOKEN`; `None` if there are none.
    pub fn load(file: Option<&Path>) -> Result<Option<Self>, String> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    v.to_str()
                        .map(str::to_owned)
                        .ok_or(format!("{name} is not UTF-8"))
                })
                .transpose()
        };
        let list = match (var("MFA_ADMIN_TOKENS")?, file) {
            (Some(_), Some(_)) => {
                return Err(
                    "give operator tokens in MFA_ADMIN_TOKENS or --admin-tokens, not both".into(),
                );
            }
            (Some(text), None) => Some((text, "MFA_ADMIN_TOKENS".to_owned())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--admin-tokens: cannot read {}: {e}", path.display()))?;
                Some((text, format!("--admin-tokens {}", path.display())))
            }
            (None, None) => None,
        };
        let single = var("MFA_ADMIN_TOKEN")?;
        Self::from_parts(
            list.as_ref().map(|(t, s)| (t.as_str(), s.as_str())),
            single.as_deref(),
        )
    }

    /// The operators of a list (its text and where it came from) and of a
    /// single token.
    fn from_parts(
        list: Option<(&str, &str)>,
        single: Option<&str>,
    ) -> Result<Option<Self>, String> {
        let mut operators = Operators {
            names: Vec::new(),
            digests: Vec::new(),
        };
        if let Some((text, source)) = list {
            for (index, line) in text.lines().enumerate() {
                let line = line.trim_end_matches('\r');
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                let at = format!("{source}, line {}", index + 1);
                let (name, token) = line
                    .split_once(':')
                    .ok_or_else(|| format!("{at}: not `name:token`"))?;
                operators.add(name, token, &at)?;
            }
            if operators.names.is_empty() {
                return Err(format!("{source} names no operator"));
            }
        }
        if let Some(token) = single {
            operators.add(DEFAULT_NAME, token, "MFA_ADMIN_TOKEN")?;
        }
        Ok((!operators.names.is_empty()).then_some(operators))
    }

    fn add(&mut self, name: &str, token: &str, at: &str) -> Result<(), String> {
        check_name(name).map_err(|e| format!("{at}: {e}"))?;
        check_token(token).map_err(|e| format!("{at}: {e}"))?;
        if self.names.iter().any(|n| n == name) {
            return Err(format!("{at}: the operator {name:?} is named twice"));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.digests.contains(&digest) {
            return Err(format!("{at}: this token is already another operator's"));
        }
        self.names.push(name.to_owned());
        self.digests.push(digest);
        Ok(())
    }

    /// The operators' names, in the order they were given.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The name of the operator whose token is `candidate`. Every digest is
    /// compared, in constant time, whatever the input.
    pub fn find(&self, candidate: &str) -> Option<&str> {
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        let mut found = 0u32;
        let mut index = 0u32;
        for (i, stored) in self.digests.iter().enumerate() {
            let matches = digest.ct_eq(stored);
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            index.conditional_assign(&i, matches);
            found.conditional_assign(&1, matches);
        }
        (found == 1).then(|| self.names[index as usize].as_str())
    }
}

/// A name fit for an audit log: short, plain ASCII.
fn check_name(name: &str) -> Result<(), String> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b));
    let starts_well = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if !(plain && starts_well && name.len() <= MAX_NAME_LEN) {
        return Err(format!(
            "an operator's name is 1 to {MAX_NAME_LEN} ASCII letters, digits, `.`, `_`, `-` \
             or `@`, starting with a letter or a digit"
        ));
    }
    Ok(())
}

/// A token that an `Authorization` header can carry and nobody can guess.
/// The message never repeats the token.
fn check_token(token: &str) -> Result<(), String> {
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("MFA_ADMIN_TOKEN must be visible ASCII characters only (no spaces)".into());
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(format!(
            "MFA_ADMIN_TOKEN must have at least {MIN_TOKEN_LEN} characters (it has {}); \
             for example: head -c 32 /dev/urandom | base64",
            token.len()
        ));
    }
    Ok(())
}

/// A request from an operator (`GET /metrics`; `mfa-axum`'s operator
/// routes ask `MfaHost::operator`): `Authorization: Bearer <token>` with one of
/// the operators' tokens. Without operators the routes do not exist (404).
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let Some(operators) = &app.operators else {
            return Err(ApiError::for_status(StatusCode::NOT_FOUND));
        };
        bearer(parts)
            .and_then(|token| operators.find(token))
            .map(|_| Operator)
            .ok_or_else(ApiError::unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "alice-token-0123456789abcdef0123456789";
    const BOB: &str = "bob:token:with:colons-0123456789abcdef";

    #[test]
    fn each_token_names_its_operator_and_only_it() {
        let list = format!("# operators\nalice:{ALICE}\r\n\nbob.b@ops:{BOB}\n");
        let single = "0123456789abcdef0123456789abcdef-single";
        let ops = Operators::from_parts(Some((&list, "test")), Some(single))
            .unwrap()
            .unwrap();
        assert_eq!(ops.names(), ["alice", "bob.b@ops", "operator"]);
        assert_eq!(ops.find(ALICE), Some("alice"));
        assert_eq!(ops.find(BOB), Some("bob.b@ops"));
        assert_eq!(ops.find(single), Some("operator"));
        let last = ALICE.len() - 1;
        for other in [
            "",
            &ALICE[..last],
            &format!("{ALICE}x"),
            &format!("{}X", &ALICE[..last]),
            &ALICE.to_uppercase(),
            &format!(" {ALICE}"),
            &format!("alice:{ALICE}"),
        ] {
            assert_eq!(ops.find(other), None, "{other:?}");
        }
        let alone = Operators::from_parts(None, Some(single)).unwrap().unwrap();
        assert_eq!(alone.names(), ["operator"]);
        assert!(Operators::from_parts(None, None).unwrap().is_none());
    }

    #[test]
    fn bad_lists_are_refused_without_repeating_a_token() {
        let long = "x".repeat(40);
        for (list, says) in [
            (format!("alice {long}"), "line 1: not `name:token`"),
            (format!(":{long}"), "name"),
            (format!("al ice:{long}"), "name"),
            (format!("-alice:{long}"), "name"),
            (format!("{}:{long}", "a".repeat(65)), "name"),
            (format!("al\u{202e}ice:{long}"), "name"),
            ("alice:short".to_owned(), "at least 32"),
            (format!("alice:{long} "), "visible ASCII"),
            (format!("alice:{long}\nalice:{long}y"), "named twice"),
            (
                format!("alice:{long}\nbob:{long}"),
                "line 2: this token is already",
            ),
            ("# nobody\n\n".to_owned(), "names no operator"),
        ] {
            let err = Operators::from_parts(Some((&list, "MFA_ADMIN_TOKENS")), None)
                .err()
                .unwrap_or_else(|| panic!("accepted {list:?}"));
            assert!(err.contains(says), "{list:?}: {err}");
            assert!(err.contains("MFA_ADMIN_TOKEN"), "{err}");
            assert!(!err.contains(&long), "the token is repeated: {err}");
        }
        // The single token's operator is `operator`: a list may not name it too.
        let list = format!("operator:{long}");
        let err = Operators::from_parts(Some((&list, "test")), Some(ALICE))
            .err()
            .unwrap();
        assert!(err.contains("named twice"), "{err}");
        for bad in ["", "x", &"x".repeat(31), &format!("{} ", "x".repeat(40))] {
            let err = Operators::from_parts(None, Some(bad)).err().unwrap();
            assert!(err.contains("MFA_ADMIN_TOKEN"), "{err}");
        }
    }
}
