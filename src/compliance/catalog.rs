//! The requirements: their wording is data (`catalog.md`, one row each,
//! read once), and how each is judged is that row's `judged` column, with
//! the checks that read a setting in `checks.rs` under the row's id.

use std::sync::LazyLock;

use super::checks::{self, Reads, Verdict};
use super::{HostFacts, Inputs, Level, Profile};

/// The tables of requirements and of what the host states, as
/// `catalog.md` keeps them.
pub(super) const TABLE: &str = include_str!("catalog.md");
/// The header of the table of requirements.
const REQUIREMENTS_HEADER: &str = "| id | source | level |";
/// The header of the table of what the host states.
pub(super) const STATED_HEADER: &str = "| id | does | does not | not stated |";

/// Every requirement, NIST first, each in its source's order.
pub(super) static REQUIREMENTS: LazyLock<Vec<Requirement>> = LazyLock::new(|| parse(TABLE));

/// Which profiles a requirement belongs to.
#[derive(Clone, Copy)]
pub(super) enum Scope {
    /// NIST SP 800-63B-4 at AAL2.
    Nist,
    /// ASVS 5.0 at this level and above.
    Asvs(u8),
}

impl Scope {
    pub(super) fn includes(self, profile: Profile) -> bool {
        match (self, profile) {
            (Scope::Nist, Profile::Nist800_63B4Aal2) => true,
            (Scope::Asvs(level), Profile::AsvsL2) => level <= 2,
            (Scope::Asvs(_), Profile::AsvsL3) => true,
            _ => false,
        }
    }
}

/// How a requirement is judged.
pub(super) enum Check {
    /// Met by construction: what the crate does.
    Always(&'static str),
    /// Met by construction with passkeys; not applicable without.
    WithPasskeys(&'static str),
    /// The host's, whatever the configuration: what the crate gives it.
    Host(&'static str),
    /// Met if the host states that it does what the requirement asks (a
    /// fact of [`HostFacts`]): what the report says when it does, when it
    /// does not, and when it does not say.
    Stated(fn(&HostFacts) -> Option<bool>, [&'static str; 3]),
    /// By the setting the requirement names.
    Reads(Reads),
}

impl Check {
    pub(super) fn judge(&self, i: &Inputs<'_>) -> Verdict {
        match self {
            Check::Always(detail) => checks::met(detail),
            Check::WithPasskeys(detail) => checks::with_passkeys(i, detail),
            Check::Host(detail) => checks::host(detail),
            Check::Stated(fact, [does, does_not, unknown]) => {
                checks::host_fact(fact(i.host), does, does_not, unknown)
            }
            Check::Reads(check) => check(i),
        }
    }
}

/// One requirement of a source.
pub(super) struct Requirement {
    pub(super) id: &'static str,
    pub(super) source: &'static str,
    pub(super) level: Level,
    pub(super) text: &'static str,
    pub(super) scope: Scope,
    pub(super) setting: Option<&'static str>,
    pub(super) check: Check,
}

/// The requirements of `table`, in its order. A malformed row panics,
/// naming it: the table is the crate's own, and its unit tests read it.
pub(super) fn parse(table: &'static str) -> Vec<Requirement> {
    let stated: Vec<_> = rows(table, STATED_HEADER).collect();
    rows(table, REQUIREMENTS_HEADER)
        .map(|(line, cells)| {
            requirement(&cells, &stated)
                .unwrap_or_else(|error| panic!("catalog.md: {error}: {line}"))
        })
        .collect()
}

/// Each row of the table under `header` in `text`: the line, and its cells
/// (none if it does not end as a row does).
pub(super) fn rows<'a>(
    text: &'static str,
    header: &'a str,
) -> impl Iterator<Item = (&'static str, Vec<&'static str>)> + 'a {
    text.lines()
        .skip_while(move |line| !line.starts_with(header))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells = match line[1..].strip_suffix('|') {
                Some(inner) => inner.split('|').map(str::trim).collect(),
                None => Vec::new(),
            };
            (line, cells)
        })
}

/// One requirement: `| id | source | level | profile | setting | judged |
/// requirement | detail |`, and for one judged `stated`, its row of what
/// the host states.
fn requirement(
    cells: &[&'static str],
    stated: &[(&'static str, Vec<&'static str>)],
) -> Result<Requirement, &'static str> {
    let [id, source, level, profile, setting, judged, text, detail] = *cells else {
        return Err("a requirement has eight cells");
    };
    let level = match level {
        "SHALL" => Level::Shall,
        "SHOULD" => Level::Should,
        _ => return Err("the level is SHALL or SHOULD"),
    };
    let scope = match profile.strip_prefix("ASVS L").map(str::parse) {
        None if profile == "NIST" => Scope::Nist,
        Some(Ok(level @ 1..=3)) => Scope::Asvs(level),
        _ => return Err("the profile is NIST, or ASVS L1 to L3"),
    };
    let check = match (judged, detail.is_empty()) {
        ("reads", true) => Check::Reads(checks::reads(id).ok_or("no check reads it")?),
        ("stated", true) => {
            let fact = fact(setting).ok_or("the setting is no fact the host states")?;
            let says = stated.iter().find_map(|(_, cells)| match cells[..] {
                [row, does, does_not, unknown] if row == id => Some([does, does_not, unknown]),
                _ => None,
            });
            Check::Stated(
                fact,
                says.ok_or("no row of four cells says what the host states")?,
            )
        }
        ("always", false) => Check::Always(detail),
        ("passkeys", false) => Check::WithPasskeys(detail),
        ("host", false) => Check::Host(detail),
        _ => return Err("a detail for always, passkeys and host, none for reads and stated"),
    };
    Ok(Requirement {
        id,
        source,
        level,
        text,
        scope,
        setting: (!setting.is_empty()).then_some(setting),
        check,
    })
}

/// The fact of [`HostFacts`] a setting names.
fn fact(setting: &str) -> Option<fn(&HostFacts) -> Option<bool>> {
    Some(match setting {
        "host.notifies_factor_changes" => |host| host.notifies_factor_changes,
        "host.notifies_suspicious_attempts" => |host| host.notifies_suspicious_attempts,
        "host.keeps_event_history" => |host| host.keeps_event_history,
        _ => return None,
    })
}
