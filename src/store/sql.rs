//! What the SQL stores share: migrations, version arithmetic, row decoding and
//! error mapping.
//!
//! Both stores keep one row per user in `mfa_enrollments` and record the
//! schema version in a table of their own, `mfa_schema_migrations`, so that
//! they never touch the `_sqlx_migrations` table of a host that runs its own
//! sqlx migrations in the same database.

use super::{Versioned, WriteId, next_version};
use crate::enrollment::MfaEnrollment;
use crate::error::{Error, Result};

/// One step of the crate's schema. Steps are applied in order, each once,
/// inside one transaction together with the row that records it.
pub(crate) struct Migration {
    /// 1, 2, 3, …: never reused, never renumbered.
    pub version: i64,
    /// Recorded in `mfa_schema_migrations` for operators.
    pub description: &'static str,
    /// One or more statements.
    pub sql: &'static str,
}

/// The migrations a store has not applied yet, given the highest applied version.
///
/// A database migrated by a newer release (a higher version than this release
/// knows) is used as it is: migrations only ever add, so older servers keep
/// working during a rolling upgrade.
pub(crate) fn pending(
    migrations: &'static [Migration],
    applied: i64,
) -> impl Iterator<Item = &'static Migration> {
    migrations.iter().filter(move |m| m.version > applied)
}

/// Maps a database failure to [`Error::StoreUnavailable`], except values that
/// cannot be decoded, which are [`Error::CorruptRecord`].
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            Error::CorruptRecord(format!("a stored column could not be decoded: {e}"))
        }
        other => Error::store_unavailable(other),
    }
}

/// The `(expected, new)` versions of a compare-and-swap as database integers,
/// or `None` when `expected` is beyond any version a row can hold, in which
/// case the save can only conflict.
pub(crate) fn cas_versions(expected: Option<u64>) -> Option<(Option<i64>, i64)> {
    let new = i64::try_from(next_version(expected)).ok()?;
    match expected {
        None => Some((None, new)),
        Some(v) => Some((Some(i64::try_from(v).ok()?), new)),
    }
}

/// Decodes one stored row. A row written before write identities were
/// stored has none (`NULL`) and loads as [`WriteId::NONE`].
pub(crate) fn decode_row(
    version: i64,
    write_id: Option<&[u8]>,
    record: &str,
) -> Result<Versioned<MfaEnrollment>> {
    let version = u64::try_from(version)
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| Error::CorruptRecord(format!("stored version {version} is not positive")))?;
    let write_id = match write_id {
        None => WriteId::NONE,
        Some(bytes) => WriteId::from_bytes(bytes.try_into().map_err(|_| {
            Error::CorruptRecord(format!("stored write id has {} bytes, not 16", bytes.len()))
        })?),
    };
    Ok(Versioned::new(
        version,
        write_id,
        MfaEnrollment::from_json(record)?,
    ))
}

/// The outcome of a compare-and-swap statement.
pub(crate) fn cas_outcome(rows_affected: u64, new_version: i64) -> Result<u64> {
    if rows_affected == 1 {
        // `new_version` came from `next_version`, a u64.
        Ok(new_version.unsigned_abs())
    } else {
        Err(Error::StoreConflict)
    }
}

#[cfg(test)]
mod tests {
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
        let disabled = MfaEnrollment::Disabled.to_json();
        let ok = decode_row(3, Some(&[7; 16]), &disabled).expect("valid row");
        assert_eq!(
            (ok.version, ok.write_id, ok.record),
            (3, WriteId::from_bytes([7; 16]), MfaEnrollment::Disabled)
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
}
