//! RFC 6238 time-based one-time passwords: verification with HMAC keyed once
//! per check; otpauth URIs, QR codes and code generation through `totp-rs`.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use totp_rs::{Builder, Secret, Totp};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{CodeFormatError, Error, Result};

mod secret;

pub use secret::TotpSecret;
#[cfg(feature = "import")]
pub(crate) use secret::base32_bytes;

/// The HMAC algorithm of a TOTP factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA-1: what every authenticator app supports (the default).
    #[default]
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

impl Algorithm {
    /// The same algorithm in `totp-rs`'s terms (kept out of the public API).
    fn to_totp_rs(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// The parameters an authenticator app was set up with. They are fixed when
/// setup begins and stored with the factor, so a later policy change never
/// breaks an enrolled device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpParams {
    /// The HMAC algorithm.
    pub algorithm: Algorithm,
    /// Code length: 6, 7 or 8 digits.
    pub digits: u8,
    /// Time step in seconds.
    pub period: u64,
}

impl Default for TotpParams {
    fn default() -> Self {
        TotpParams {
            algorithm: Algorithm::Sha1,
            digits: 6,
            period: 30,
        }
    }
}

impl TotpParams {
    /// Checks the ranges RFC 4226/6238 allow.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for digits outside `6..=8` or a period outside `1..=300`.
    pub fn validate(&self) -> Result<()> {
        if !(6..=8).contains(&self.digits) {
            return Err(Error::InvalidConfig("TOTP codes have 6 to 8 digits"));
        }
        if !(1..=300).contains(&self.period) {
            return Err(Error::InvalidConfig("the TOTP period is 1 to 300 seconds"));
        }
        Ok(())
    }

    /// The time step that contains `now`.
    pub fn step_at(&self, now: u64) -> u64 {
        now / self.period
    }
}

/// A code reduced to its digits: white space anywhere is dropped, and anything
/// but exactly the expected number of ASCII digits is refused. Lives on the
/// stack and is wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct TotpCode {
    digits: [u8; 8],
    len: u8,
}

impl TotpCode {
    /// Whether `input` is shaped like a TOTP code of some length (digits and
    /// spaces only): how a code that may be either is told apart from a
    /// backup code.
    pub(crate) fn is_shaped(input: &str) -> bool {
        input
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace())
    }

    /// Normalizes `input` for a factor with `digits` digits.
    ///
    /// ```
    /// use mfa::totp::TotpCode;
    /// assert_eq!(TotpCode::parse(" 123 456 ", 6).unwrap().as_str(), "123456");
    /// assert!(TotpCode::parse("12345", 6).is_err());
    /// assert!(TotpCode::parse("12345a", 6).is_err());
    /// assert!(TotpCode::parse("١٢٣٤٥٦", 6).is_err()); // Arabic-Indic digits
    /// ```
    ///
    /// # Errors
    /// A [`CodeFormatError`] naming what is wrong with the shape of the input.
    pub fn parse(input: &str, digits: u8) -> std::result::Result<Self, CodeFormatError> {
        let expected = usize::from(digits);
        let mut code = TotpCode {
            digits: [0; 8],
            len: 0,
        };
        let mut found = 0usize;
        for c in input.chars() {
            if c.is_whitespace() {
                continue;
            }
            if !c.is_ascii_digit() {
                return Err(CodeFormatError::InvalidCharacter);
            }
            if found < code.digits.len() {
                code.digits[found] = c as u8;
            }
            found += 1;
        }
        if found == 0 {
            return Err(CodeFormatError::Empty);
        }
        if found != expected || expected > code.digits.len() {
            return Err(CodeFormatError::WrongLength { expected, found });
        }
        code.len = digits;
        Ok(code)
    }

    /// The code as a number.
    fn value(&self) -> u32 {
        self.digits[..usize::from(self.len)]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).expect("ASCII digits")
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(REDACTED)")
    }
}

/// A code that verified: the time step it belongs to, and how far that step
/// is from the server's current one (negative: the client's clock is behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpMatch {
    /// The matched time step (unix time / period).
    pub step: u64,
    /// The matched step minus the current step, within `-skew..=skew`.
    pub drift: i64,
}

/// The result of checking a code against a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpCheck {
    /// The code matches a step later than the last accepted one.
    Accepted(TotpMatch),
    /// The code matches only steps at or before the last accepted one (RFC 6238 §5.2).
    Replayed {
        /// The matched, already-used step.
        step: u64,
    },
    /// The code matches no step of the window.
    Rejected,
}

/// Checks `code` against `secret` at `now` within `±skew` steps, refusing any
/// step at or below `last_step`. Allocates nothing, whatever the secret length.
///
/// HOTP (RFC 4226 §5.3) is computed with HMAC keyed once per call, the keyed
/// state cloned for each step; the truncated value is compared with the code
/// in constant time. Steps are tried oldest first and the search stops at the
/// first acceptable match, as `totp-rs`'s own `check` does; the result agrees
/// with `totp-rs` (tested against it and against RFC 6238 Appendix B).
///
/// ```
/// use mfa::totp::{self, TotpCheck, TotpCode, TotpParams, TotpSecret};
/// // RFC 6238 Appendix B, SHA-1, T = 59: 94287082 (8 digits).
/// let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
/// let params = TotpParams { digits: 8, ..TotpParams::default() };
/// let code = TotpCode::parse("94287082", 8).unwrap();
/// let TotpCheck::Accepted(m) = totp::check(&secret, params, 1, &code, 59, None).unwrap() else { panic!() };
/// assert_eq!((m.step, m.drift), (1, 0));
/// assert_eq!(totp::check(&secret, params, 1, &code, 59, Some(1)).unwrap(), TotpCheck::Replayed { step: 1 });
/// ```
///
/// # Errors
/// [`Error::InvalidConfig`] if the parameters are out of range.
pub fn check(
    secret: &TotpSecret,
    params: TotpParams,
    skew: u8,
    code: &TotpCode,
    now: u64,
    last_step: Option<u64>,
) -> Result<TotpCheck> {
    params.validate()?;
    if code.len != params.digits {
        return Ok(TotpCheck::Rejected);
    }
    let hotp = match params.algorithm {
        Algorithm::Sha1 => hotp::<Hmac<Sha1>>,
        Algorithm::Sha256 => hotp::<Hmac<Sha256>>,
        Algorithm::Sha512 => hotp::<Hmac<Sha512>>,
    };
    let key = secret.as_bytes();
    let submitted = code.value();
    let modulus = 10u32.pow(u32::from(params.digits));
    let origin = params.step_at(now);
    let first = origin.saturating_sub(u64::from(skew));
    let last = origin.saturating_add(u64::from(skew));
    let mut replayed = None;
    for step in first..=last {
        let value = hotp(key, step)? % modulus;
        if !bool::from(value.ct_eq(&submitted)) {
            continue;
        }
        if last_step.is_some_and(|used| step <= used) {
            replayed = Some(step);
            continue;
        }
        let drift = step as i128 - origin as i128;
        return Ok(TotpCheck::Accepted(TotpMatch {
            step,
            drift: drift as i64,
        }));
    }
    Ok(match replayed {
        Some(step) => TotpCheck::Replayed { step },
        None => TotpCheck::Rejected,
    })
}

/// RFC 4226's HOTP value of the counter `step` under the HMAC `M`, before
/// it is reduced to the code's digits.
fn hotp<M: Mac + KeyInit>(key: &[u8], step: u64) -> Result<u32> {
    let mut mac = <M as KeyInit>::new_from_slice(key)
        .map_err(|_| Error::InvalidConfig("HMAC refused the secret"))?;
    mac.update(&step.to_be_bytes());
    Ok(truncate(&mac.finalize().into_bytes()))
}

/// RFC 4226 §5.3 dynamic truncation.
fn truncate(digest: &[u8]) -> u32 {
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let bytes = [
        digest[offset],
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ];
    u32::from_be_bytes(bytes) & 0x7fff_ffff
}

/// The code for `now` (what the authenticator app shows). For tests, demos and
/// tools; verification never needs it.
///
/// # Errors
/// [`Error::InvalidConfig`] if the parameters are out of range.
pub fn generate(secret: &TotpSecret, params: TotpParams, now: u64) -> Result<String> {
    Ok(build(secret, params)?.generate(now).to_string())
}

fn builder(secret: &TotpSecret, params: TotpParams) -> Builder {
    Builder::new()
        .with_algorithm(params.algorithm.to_totp_rs())
        .with_digits(params.digits)
        .with_step_duration(params.period)
        .with_skew(0)
        .with_secret(Secret::from(secret.as_bytes()))
}

fn build(secret: &TotpSecret, params: TotpParams) -> Result<Totp> {
    params.validate()?;
    builder(secret, params)
        .build()
        .map_err(|_| Error::InvalidConfig("TOTP parameters rejected"))
}

/// A `totp-rs` factor carrying labels, for otpauth URIs and QR codes.
pub(crate) fn labelled(
    secret: &TotpSecret,
    params: TotpParams,
    issuer: &str,
    account_name: &str,
) -> Result<Totp> {
    if account_name.is_empty() || account_name.contains(':') {
        return Err(Error::InvalidInput(
            "the account name must be non-empty and contain no ':'",
        ));
    }
    params.validate()?;
    let issuer = (!issuer.is_empty()).then(|| issuer.to_owned());
    builder(secret, params)
        .with_issuer(issuer)
        .with_account_name(account_name)
        .build()
        .map_err(|_| Error::InvalidInput("the issuer or account name is not allowed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1: &[u8] = b"12345678901234567890";
    const SHA256: &[u8] = b"12345678901234567890123456789012";
    const SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    /// RFC 6238 Appendix B.
    #[test]
    fn rfc6238_appendix_b() {
        let vectors: [(u64, &str, &str, &str); 6] = [
            (59, "94287082", "46119246", "90693936"),
            (1111111109, "07081804", "68084774", "25091201"),
            (1111111111, "14050471", "67062674", "99943326"),
            (1234567890, "89005924", "91819424", "93441116"),
            (2000000000, "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        for (time, sha1, sha256, sha512) in vectors {
            for (key, alg, want) in [
                (SHA1, Algorithm::Sha1, sha1),
                (SHA256, Algorithm::Sha256, sha256),
                (SHA512, Algorithm::Sha512, sha512),
            ] {
                let secret = TotpSecret::from_bytes(key).unwrap();
                let params = TotpParams {
                    algorithm: alg,
                    digits: 8,
                    period: 30,
                };
                assert_eq!(generate(&secret, params, time).unwrap(), want);
                let code = TotpCode::parse(want, 8).unwrap();
                let check = check(&secret, params, 0, &code, time, None).unwrap();
                assert_eq!(
                    check,
                    TotpCheck::Accepted(TotpMatch {
                        step: time / 30,
                        drift: 0
                    })
                );
            }
        }
    }

    #[test]
    fn window_drift_and_replay() {
        let secret = TotpSecret::from_bytes(SHA1).unwrap();
        let params = TotpParams::default();
        let now = 1_000_000_000;
        let step = now / 30;
        for offset in [-1i64, 0, 1] {
            let t = (now as i64 + offset * 30) as u64;
            let code = TotpCode::parse(&generate(&secret, params, t).unwrap(), 6).unwrap();
            assert_eq!(
                check(&secret, params, 1, &code, now, None).unwrap(),
                TotpCheck::Accepted(TotpMatch {
                    step: (step as i64 + offset) as u64,
                    drift: offset
                })
            );
            // Outside a zero-skew window.
            if offset != 0 {
                assert_eq!(
                    check(&secret, params, 0, &code, now, None).unwrap(),
                    TotpCheck::Rejected
                );
            }
        }
        let current = TotpCode::parse(&generate(&secret, params, now).unwrap(), 6).unwrap();
        assert_eq!(
            check(&secret, params, 1, &current, now, Some(step)).unwrap(),
            TotpCheck::Replayed { step }
        );
        // A step older than the last accepted one is refused too.
        assert_eq!(
            check(&secret, params, 1, &current, now, Some(step + 1)).unwrap(),
            TotpCheck::Replayed { step }
        );
        let far = TotpCode::parse(&generate(&secret, params, now + 90).unwrap(), 6).unwrap();
        assert_eq!(
            check(&secret, params, 1, &far, now, None).unwrap(),
            TotpCheck::Rejected
        );
    }

    #[test]
    fn parsing() {
        assert_eq!(
            TotpCode::parse("\t12 34 56\n", 6).unwrap().as_str(),
            "123456"
        );
        assert_eq!(TotpCode::parse("", 6).unwrap_err(), CodeFormatError::Empty);
        assert_eq!(
            TotpCode::parse("   ", 6).unwrap_err(),
            CodeFormatError::Empty
        );
        assert_eq!(
            TotpCode::parse("1234567", 6).unwrap_err(),
            CodeFormatError::WrongLength {
                expected: 6,
                found: 7
            }
        );
        assert_eq!(
            TotpCode::parse("+12345", 6).unwrap_err(),
            CodeFormatError::InvalidCharacter
        );
        assert_eq!(
            TotpCode::parse("123-456", 6).unwrap_err(),
            CodeFormatError::InvalidCharacter
        );
        assert!(TotpCode::parse("123456789", 9).is_err());
        assert_eq!(
            format!("{:?}", TotpCode::parse("123456", 6).unwrap()),
            "TotpCode(REDACTED)"
        );
    }

    #[test]
    fn extreme_times_do_not_panic() {
        let secret = TotpSecret::from_bytes(SHA1).unwrap();
        let code = TotpCode::parse("123456", 6).unwrap();
        for now in [0, 29, u64::MAX, u64::MAX - 30] {
            let _ = check(
                &secret,
                TotpParams::default(),
                10,
                &code,
                now,
                Some(u64::MAX),
            );
        }
    }

    #[test]
    fn otpauth_uri() {
        let secret = TotpSecret::from_bytes(SHA1).unwrap();
        let totp = labelled(
            &secret,
            TotpParams::default(),
            "Example Co",
            "alice@example.com",
        )
        .unwrap();
        let url = totp.to_url().unwrap();
        assert!(
            url.starts_with("otpauth://totp/Example%20Co:alice%40example.com?"),
            "{url}"
        );
        assert!(url.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
        assert!(url.contains("issuer=Example%20Co"));
        assert!(labelled(&secret, TotpParams::default(), "X", "a:b").is_err());
        assert!(labelled(&secret, TotpParams::default(), "X:Y", "a").is_err());
    }
}
