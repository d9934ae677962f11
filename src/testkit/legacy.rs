//! Backup-code hashes as other systems write them, for import tests: each
//! follows that system's own algorithm and encoding, so a test that imports
//! them checks the crate against the source, not against itself.

use base64::Engine as _;
use sha2::Sha512;

/// A devise-two-factor backup code hash (`Devise::Encryptor.digest`): bcrypt
/// (`$2a$`, as Ruby's bcrypt gem writes it) of the code followed by Devise's
/// pepper, at `cost` (Devise's `stretches`; 4, bcrypt's minimum, in tests).
///
/// # Panics
/// If bcrypt refuses the cost (outside 4..=31).
pub fn devise_backup_code_hash(code: &str, pepper: &str, cost: u32) -> String {
    let peppered = format!("{code}{pepper}");
    bcrypt::hash_with_result(peppered, cost)
        .expect("a valid bcrypt cost")
        .format_for_version(bcrypt::Version::TwoA)
}

/// A GitLab backup code hash (devise-pbkdf2-encryptable's `Pbkdf2Sha512`):
/// `$pbkdf2-sha512$rounds$salt$checksum`. GitLab draws the salt as
/// `Devise.friendly_token(64)` and reads it as hex with Ruby's
/// `[salt].pack("H*")`, which takes every character's low nibble (plus 9 for
/// letters) whether or not it is a hex digit; salt and checksum are written in
/// passlib's adapted base64 (`.` for `+`, no padding). GitLab uses 20 000
/// rounds.
pub fn gitlab_backup_code_hash(code: &str, friendly_token: &str, rounds: u32) -> String {
    let salt = ruby_pack_hex(friendly_token);
    let mut checksum = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(code.as_bytes(), &salt, rounds, &mut checksum);
    let passlib = |bytes: &[u8]| {
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(bytes)
            .replace('+', ".")
    };
    format!(
        "$pbkdf2-sha512${rounds}${}${}",
        passlib(&salt),
        passlib(&checksum)
    )
}

/// Ruby's `[text].pack("H*")`: two characters per byte, high nibble first;
/// a letter counts as its low four bits plus 9, anything else as its low four
/// bits; an odd last character fills the high nibble.
fn ruby_pack_hex(text: &str) -> Vec<u8> {
    let nibble = |c: u8| {
        if c.is_ascii_alphabetic() {
            ((c & 15) + 9) & 15
        } else {
            c & 15
        }
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| (nibble(pair[0]) << 4) | pair.get(1).map_or(0, |c| nibble(*c)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_hex_reads_hex_as_hex_and_anything_else_as_ruby_does() {
        assert_eq!(ruby_pack_hex("00ff7a"), [0x00, 0xff, 0x7a]);
        assert_eq!(ruby_pack_hex("AbC"), [0xab, 0xc0]);
        // 'g' = 0x67: (7 + 9) & 15 = 0; '-' = 0x2d: 13; '_' = 0x5f: 15; 'z' = 0x7a: 3.
        assert_eq!(ruby_pack_hex("g-_z"), [0x0d, 0xf3]);
    }

    #[test]
    fn hashes_have_the_sources_shapes() {
        let devise = devise_backup_code_hash("0123abcd", "pepper", 4);
        assert!(
            devise.starts_with("$2a$04$") && devise.len() == 60,
            "{devise}"
        );
        assert!(bcrypt::verify("0123abcdpepper", &devise).unwrap());
        let gitlab = gitlab_backup_code_hash("0123abcd", &"x".repeat(64), 3);
        let parts: Vec<&str> = gitlab.split('$').collect();
        assert_eq!(parts[..3], ["", "pbkdf2-sha512", "3"]);
        assert!(!gitlab.contains('+') && !gitlab.contains('='));
        assert_eq!(parts[4].len(), 86); // 64 bytes, unpadded
    }
}
