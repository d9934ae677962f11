//! Progress and the final summary: a bar on stderr when it is a terminal
//! (`indicatif`), otherwise a plain `progress: …` line on stderr every
//! `--progress-every` seconds. Either way: users done, the rate, and, when
//! the input is a file, how much of it is read and the time left.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// How a line ended.
pub enum Outcome {
    /// The factor was attached by this run.
    Imported,
    /// The user already held exactly this factor (an earlier, interrupted
    /// run, or an earlier line of this input, imported it).
    AlreadyImported,
    /// Reported with its reason; nothing written.
    Failed(String),
}

/// The counts so far.
#[derive(Default, Clone, Copy)]
pub struct Tally {
    pub imported: u64,
    pub already: u64,
    pub failed: u64,
    /// Lines of other shards, skipped.
    pub elsewhere: u64,
}

impl Tally {
    /// Users done: imported, already imported or failed.
    pub fn users(&self) -> u64 {
        self.imported + self.already + self.failed
    }
}

enum Display {
    Bar(ProgressBar),
    Plain { every: Duration, next: Instant },
}

pub struct Progress {
    display: Display,
    started: Instant,
    /// The input's length, when it is a file.
    total: Option<u64>,
    /// Bytes of the lines done (imported, failed, skipped or blank).
    bytes: u64,
    pub tally: Tally,
}

impl Progress {
    pub fn new(total: Option<u64>, every: Duration) -> Self {
        let started = Instant::now();
        let display = if std::io::stderr().is_terminal() {
            let bar = match total {
                Some(total) => ProgressBar::new(total).with_style(style(
                    "{spinner} {elapsed_precise} [{wide_bar}] {percent:>3}% {msg} · {eta} left",
                )),
                None => ProgressBar::new_spinner()
                    .with_style(style("{spinner} {elapsed_precise} {msg}")),
            };
            bar.enable_steady_tick(Duration::from_millis(200));
            Display::Bar(bar)
        } else {
            Display::Plain {
                every,
                next: started + every,
            }
        };
        Progress {
            display,
            started,
            total,
            bytes: 0,
            tally: Tally::default(),
        }
    }

    /// A line of `bytes` is done, with `outcome` (`None`: blank, or another
    /// shard's when `elsewhere`).
    pub fn line_done(&mut self, bytes: u64, outcome: Option<&Outcome>, elsewhere: bool) {
        self.bytes += bytes;
        match outcome {
            Some(Outcome::Imported) => self.tally.imported += 1,
            Some(Outcome::AlreadyImported) => self.tally.already += 1,
            Some(Outcome::Failed(_)) => self.tally.failed += 1,
            None if elsewhere => self.tally.elsewhere += 1,
            None => {}
        }
        let now = Instant::now();
        match &self.display {
            Display::Bar(bar) => {
                bar.set_position(self.bytes);
                bar.set_message(self.counts(now));
            }
            Display::Plain { next, .. } if now >= *next => {
                let line = self.plain_line(now);
                eprintln!("{line}");
                if let Display::Plain { every, next } = &mut self.display {
                    *next = now + *every;
                }
            }
            Display::Plain { .. } => {}
        }
    }

    /// Prints a report line on stdout (`to_stderr`: on stderr), around the bar.
    pub fn report(&self, text: &str, to_stderr: bool) {
        let print = || {
            if to_stderr {
                eprintln!("{text}");
            } else {
                println!("{text}");
            }
        };
        match &self.display {
            Display::Bar(bar) => bar.suspend(print),
            Display::Plain { .. } => print(),
        }
    }

    /// Clears the bar; the summary line.
    pub fn finish(&self) -> String {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
        let t = &self.tally;
        let elapsed = self.started.elapsed();
        let mut summary = format!(
            "imported {}, failed {}, already imported {}",
            t.imported, t.failed, t.already
        );
        if t.elsewhere > 0 {
            summary += &format!(", other shards' lines {}", t.elsewhere);
        }
        summary += &format!(
            "; {} users in {:.1} s, {:.1} users/s",
            t.users(),
            elapsed.as_secs_f64(),
            rate(t.users(), elapsed)
        );
        if let Some(kib) = peak_resident_kib() {
            summary += &format!("; peak resident memory {:.1} MiB", kib as f64 / 1024.0);
        }
        summary
    }

    fn counts(&self, now: Instant) -> String {
        let t = &self.tally;
        format!(
            "{} users, {:.1}/s (imported {}, already imported {}, failed {})",
            t.users(),
            rate(t.users(), now - self.started),
            t.imported,
            t.already,
            t.failed
        )
    }

    fn plain_line(&self, now: Instant) -> String {
        let mut line = format!("progress: {}", self.counts(now));
        if let Some(total) = self.total.filter(|&t| t > 0) {
            let done = self.bytes.min(total);
            line += &format!(", {:.1}% of the input", done as f64 * 100.0 / total as f64);
            let elapsed = (now - self.started).as_secs_f64();
            if done > 0 && elapsed > 0.0 {
                let left = (total - done) as f64 * elapsed / done as f64;
                line += &format!(", about {} left", duration(left));
            }
        }
        line
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn rate(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 { count as f64 / secs } else { 0.0 }
}

/// `1h 02m`, `3m 05s`, `12s`.
fn duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    match (secs / 3600, secs % 3600 / 60, secs % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

/// The process's peak resident set (`VmHWM`), where the system tells it.
fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
