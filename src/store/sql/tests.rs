use super::*;

#[test]
fn versions_map_to_database_integers() {
    assert_eq!(cas_versions(None), Some((None, 1)));
    assert_eq!(cas_versions(Some(1)), Some((Some(1), 2)));
    assert_eq!(cas_versions(Some(i64::MAX as u64)), None);
    assert_eq!(cas_versions(Some(u64::MAX)), None);
}

#[test]
fn rows_decode_or_report_corruption() {
    let disabled = MfaEnrollment::default().to_json();
    let ok = decode_row(3, Some(&[7; 16]), &disabled).expect("valid row");
    assert_eq!(
        (ok.version, ok.write_id, ok.record),
        (3, WriteId::from_bytes([7; 16]), MfaEnrollment::default())
    );
    let legacy = decode_row(3, None, &disabled).expect("row from before write ids");
    assert_eq!(legacy.write_id, WriteId::NONE);
    for version in [0, -1, i64::MIN] {
        assert!(matches!(
            decode_row(version, None, &disabled),
            Err(Error::CorruptRecord(_))
        ));
    }
    assert!(matches!(
        decode_row(1, Some(&[7; 15]), &disabled),
        Err(Error::CorruptRecord(_))
    ));
    assert!(matches!(
        decode_row(1, None, "{"),
        Err(Error::CorruptRecord(_))
    ));
}

#[test]
fn only_one_row_is_a_successful_swap() {
    assert_eq!(cas_outcome(1, 5).expect("swapped"), 5);
    assert!(matches!(cas_outcome(0, 5), Err(Error::StoreConflict)));
}

#[test]
fn decode_failures_are_corruption_and_the_rest_unavailability() {
    assert!(matches!(
        db_error(sqlx::Error::PoolTimedOut),
        Error::StoreUnavailable(_)
    ));
    assert!(matches!(
        db_error(sqlx::Error::Decode("bad".into())),
        Error::CorruptRecord(_)
    ));
}

#[test]
fn pending_steps_are_the_newer_ones() {
    const SQL: [&str; STEPS.len()] = ["one", "two", "three"];
    let pending = |applied| pending(&SQL, applied).collect::<Vec<_>>();
    assert_eq!(
        pending(0),
        [(STEPS[0], "one"), (STEPS[1], "two"), (STEPS[2], "three")]
    );
    assert_eq!(pending(1), [(STEPS[1], "two"), (STEPS[2], "three")]);
    assert_eq!(pending(2), [(STEPS[2], "three")]);
    assert_eq!(pending(3), []);
    // A database migrated by a newer release is used as it is.
    assert_eq!(pending(4), []);
}

#[test]
fn credential_id_sets_are_stored_exactly() {
    let set = |ids: &[&'static [u8]]| CredentialIds(ids.iter().copied().collect()).stored();
    assert_eq!(set(&[]), None);
    assert_eq!(set(&[b"b", b"a", b"b"]), Some(b"\0\x01a\0\x01b".to_vec()));
    // Each id after its length: no two sets share a value.
    assert_ne!(set(&[b"ab"]), set(&[b"a", b"b"]));
    assert_ne!(set(&[b"\0\x01a"]), set(&[b"a"]));
    let longest = [7u8; MAX_CREDENTIAL_ID_BYTES];
    let stored = CredentialIds([&longest[..]].into())
        .stored()
        .expect("one id");
    assert_eq!(&stored[..2], &[0x03, 0xff]);
    assert!(CredentialIds::storable(&longest));
    assert!(!CredentialIds::storable(&[7; MAX_CREDENTIAL_ID_BYTES + 1]));
    assert!(!CredentialIds::storable(&[]));
}

#[cfg(feature = "testkit")]
#[test]
fn a_record_gives_its_ids_once_in_ascending_order() {
    use crate::testkit::fixtures::with_passkeys;
    let record = with_passkeys(MfaEnrollment::default(), &[b"z", b"a", b"z"]);
    let ids = CredentialIds::of(&record).expect("storable");
    assert_eq!(ids.iter().collect::<Vec<_>>(), [b"a", b"z"]);
    let empty = MfaEnrollment::default();
    assert!(CredentialIds::of(&empty).expect("none").is_empty());
    let too_long = with_passkeys(MfaEnrollment::default(), &[&[1; 1024]]);
    assert!(matches!(
        CredentialIds::of(&too_long),
        Err(Error::InvalidInput(_))
    ));
}

#[test]
fn steps_are_numbered_from_one_without_gaps() {
    for (i, (version, _)) in STEPS.iter().enumerate() {
        assert_eq!(*version, i as i64 + 1);
    }
}
