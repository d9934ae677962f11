//! `SubmittedBackupCode::parse`: never panics, accepts exactly ten characters of
//! the alphabet (look-alikes mapped, case folded) once spaces and dashes are dropped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa::backup::{BackupCode, SubmittedBackupCode};

fuzz_target!(|text: &str| {
    let significant: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let valid = significant.len() == BackupCode::LEN
        && significant.iter().all(|c| {
            let c = match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                c => c,
            };
            c.is_ascii() && BackupCode::ALPHABET.contains(&(c as u8))
        });
    let parsed = SubmittedBackupCode::parse(text);
    assert_eq!(parsed.is_ok(), valid, "parse disagrees on {text:?}");
    if let Ok(input) = parsed {
        // Never prints the code.
        assert_eq!(format!("{input:?}"), "SubmittedBackupCode(REDACTED)");
    }
});
