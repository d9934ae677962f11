//! proptest strategies for the crate's types and inputs.

use proptest::prelude::*;
use rand::{SeedableRng, rngs::StdRng};

use super::conformance::sample_records;
use crate::enrollment::MfaEnrollment;
use crate::totp::{Algorithm, TotpParams};

/// Valid TOTP parameters.
pub fn totp_params() -> impl Strategy<Value = TotpParams> {
    (
        prop_oneof![
            Just(Algorithm::Sha1),
            Just(Algorithm::Sha256),
            Just(Algorithm::Sha512)
        ],
        6u8..=8,
        prop_oneof![Just(30u64), Just(60), 1u64..=300],
    )
        .prop_map(|(algorithm, digits, period)| TotpParams {
            algorithm,
            digits,
            period,
        })
}

/// Strings shaped like what users type into a code field, valid or not:
/// digits, backup-code characters, separators, look-alikes, unicode digits.
pub fn code_input() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{6}",
        "[0-9]{8}",
        " ?[0-9]{3} ?[0-9]{3} ?",
        "[0-9a-zA-Z]{5}-[0-9a-zA-Z]{5}",
        "[0-9a-hj-km-np-tv-z]{10}",
        "[0-9a-zA-Z -]{0,24}",
        "[٠-٩]{6}",
        "\\PC{0,16}",
    ]
}

/// A deterministic RNG.
pub fn seeded_rng() -> impl Strategy<Value = StdRng> {
    any::<u64>().prop_map(StdRng::seed_from_u64)
}

/// Records in every state, with real ciphertext and hashes (for `user_id`).
pub fn enrollment(user_id: &'static str) -> impl Strategy<Value = MfaEnrollment> {
    (0usize..3).prop_map(move |i| sample_records(user_id).swap_remove(i))
}
