//! The WebAuthn relying party of `--rp-id` and `--origin`. The options and
//! credentials on the wire are `mfa-axum`'s; the checks are the crate's
//! (`mfa::passkey`, on `webauthn-rs`).

use mfa::passkey::RelyingParty;

/// The relying party and the origins it was built for.
pub struct Party {
    pub party: RelyingParty,
    pub origins: Vec<String>,
    /// Whether the origins are the default, `http://localhost:<port>`.
    pub default_origin: bool,
}

/// The relying party `rp_id` for `origins`, or for `http://localhost:<port>`
/// when none is given. An origin that is not a URL, or that the id does not
/// cover, is an error: the server does not start.
pub fn relying_party(rp_id: &str, origins: &[String], port: u16) -> Result<Party, String> {
    let default_origin = origins.is_empty();
    let origins = if default_origin {
        vec![format!("http://localhost:{port}")]
    } else {
        origins.to_vec()
    };
    for origin in &origins {
        let well_formed = origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains('/')
        });
        if !well_formed {
            return Err(format!(
                "--origin {origin:?} is not an origin (a scheme, a host and an optional port, \
                 such as https://login.example.com)"
            ));
        }
    }
    let named: Vec<&str> = origins.iter().map(String::as_str).collect();
    let party = RelyingParty::new(rp_id, "MFA Example", &named).map_err(|e| {
        format!(
            "passkeys: the relying party id {rp_id:?} does not cover every origin ({}): {e}; \
             the id must be each origin's host or a parent domain of it",
            origins.join(", ")
        )
    })?;
    Ok(Party {
        party,
        origins,
        default_origin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_must_cover_every_origin() {
        let party = relying_party("localhost", &[], 8080).unwrap();
        assert_eq!(party.origins, ["http://localhost:8080"]);
        assert!(party.default_origin);
        let origins = ["https://login.example.com".to_owned()];
        assert!(relying_party("example.com", &origins, 1).is_ok());
        assert!(relying_party("other.com", &origins, 1).is_err());
        assert!(relying_party("example.com", &[], 1).is_err(), "localhost");
        let bad = ["https://example.com/path".to_owned()];
        assert!(relying_party("example.com", &bad, 1).is_err());
        let two = [
            "https://example.com".to_owned(),
            "https://evil.test".to_owned(),
        ];
        assert!(relying_party("example.com", &two, 1).is_err());
    }
}
