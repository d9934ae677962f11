//! `MasterKey::from_base64`: never panics; what it accepts is 32 bytes and
//! round-trips through `to_base64`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa::MasterKey;

fuzz_target!(|text: &str| {
    if let Ok(key) = MasterKey::from_base64(text) {
        let encoded = key.to_base64();
        assert_eq!(encoded.len(), 44);
        let again = MasterKey::from_base64(&encoded).expect("round trip");
        assert_eq!(*again.derive("fuzz").unwrap(), *key.derive("fuzz").unwrap());
        assert_eq!(format!("{key:?}"), "MasterKey(REDACTED)");
    }
});
