//! Envelope decoding: `Envelope::from_bytes` and `from_base64` on any input,
//! then `open` under the test keyring. Never panics; what decodes re-encodes
//! to the same bytes; forged envelopes never authenticate.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mfa::{Keyring, keys::Envelope, testkit::test_keyring};

fn keyring() -> &'static Keyring {
    static KEYRING: OnceLock<Keyring> = OnceLock::new();
    KEYRING.get_or_init(test_keyring)
}

fn check(envelope: Envelope) {
    let bytes = envelope.to_bytes();
    assert_eq!(Envelope::from_bytes(&bytes).expect("re-decodes"), envelope);
    assert_eq!(
        Envelope::from_base64(&envelope.to_base64()).expect("re-decodes"),
        envelope
    );
    // Only the crate can produce a valid tag: fuzzed input must not open.
    for purpose in ["totp-secret", "note"] {
        assert!(envelope.open(keyring(), purpose, "user-1").is_err());
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::from_bytes(data) {
        assert_eq!(envelope.to_bytes(), data);
        check(envelope);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(envelope) = Envelope::from_base64(text)
    {
        check(envelope);
    }
});
