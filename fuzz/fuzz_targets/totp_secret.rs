//! `TotpSecret::from_base32`: never panics; what it accepts is 16 to 64 bytes
//! and re-encodes to the same base32 (after case folding and dropping spaces and padding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa::totp::TotpSecret;

fuzz_target!(|text: &str| {
    if let Ok(secret) = TotpSecret::from_base32(text) {
        let len = secret.as_bytes().len();
        assert!((TotpSecret::MIN_LEN..=TotpSecret::MAX_LEN).contains(&len));
        let again = TotpSecret::from_base32(&secret.to_base32()).expect("round trip");
        assert_eq!(again.as_bytes(), secret.as_bytes());
        assert_eq!(format!("{secret:?}"), "TotpSecret(REDACTED)");
    }
});
