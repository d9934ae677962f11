//! `SubmittedBackupCode::parse`: never panics, accepts exactly the lengths of
//! the presets (ten or fifteen characters of the alphabet, look-alikes mapped,
//! case folded) once spaces and dashes are dropped, and reports the preset
//! whose length the input has.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa::backup::{BackupCode, BackupCodeStrength, SubmittedBackupCode};

fuzz_target!(|text: &str| {
    let significant: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    let preset = BackupCodeStrength::ALL
        .into_iter()
        .find(|s| s.code_len() == significant.len());
    let in_alphabet = significant.iter().all(|c| {
        let c = match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        c.is_ascii() && BackupCode::ALPHABET.contains(&(c as u8))
    });
    let expected = preset.filter(|_| in_alphabet);
    let parsed = SubmittedBackupCode::parse(text);
    assert_eq!(
        parsed.as_ref().ok().map(SubmittedBackupCode::strength),
        expected,
        "parse disagrees on {text:?}"
    );
    if let Ok(input) = parsed {
        // Never prints the code.
        assert_eq!(format!("{input:?}"), "SubmittedBackupCode(REDACTED)");
    }
});
