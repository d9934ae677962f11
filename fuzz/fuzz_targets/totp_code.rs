//! `TotpCode::parse`: any string, any digit count, never panics; what it
//! accepts is exactly the expected number of ASCII digits, white space dropped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa::totp::TotpCode;

fuzz_target!(|input: (u8, &str)| {
    let (digits, text) = input;
    let significant: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let valid = (1..=8).contains(&digits)
        && significant.len() == usize::from(digits)
        && significant.bytes().all(|b| b.is_ascii_digit());
    let parsed = TotpCode::parse(text, digits);
    assert_eq!(
        parsed.is_ok(),
        valid,
        "parse disagrees on {text:?} ({digits} digits)"
    );
    if let Ok(code) = parsed {
        assert_eq!(code.as_str(), significant);
        assert_eq!(format!("{code:?}"), "TotpCode(REDACTED)");
    }
});
