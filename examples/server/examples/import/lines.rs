//! The input, streamed: a thread of its own reads it line by line, each line
//! at most [`MAX_LINE_BYTES`] in memory whatever the input holds, and hands
//! the lines over through a bounded channel, so that a file of any length
//! takes the memory of a few lines.

use std::io::BufRead;
use std::path::PathBuf;

use tokio::sync::mpsc;

/// The longest line read, in bytes (its newline not counted): a factor with
/// a hundred legacy backup-code hashes takes a few KiB.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A line of the input as read.
pub enum Line {
    Text(String),
    /// Longer than [`MAX_LINE_BYTES`]: read to its end and dropped.
    TooLong,
    /// Not valid UTF-8.
    NotUtf8,
}

/// A line with its number (from 1) and the bytes it took in the input,
/// its newline included.
pub struct Numbered {
    pub number: usize,
    pub line: Line,
    pub bytes: u64,
}

/// Where the lines come from.
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    pub fn parse(input: &str) -> Self {
        if input == "-" {
            Source::Stdin
        } else {
            Source::File(PathBuf::from(input))
        }
    }

    /// The input's length in bytes, when it is a regular file.
    pub fn len(&self) -> Option<u64> {
        match self {
            Source::Stdin => None,
            Source::File(path) => std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
        }
    }

    /// Opens the input, so that a missing file is reported before any work.
    pub fn open(&self) -> Result<Box<dyn BufRead + Send>, String> {
        Ok(match self {
            Source::Stdin => Box::new(std::io::BufReader::new(std::io::stdin())),
            Source::File(path) => {
                let file = std::fs::File::open(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Box::new(std::io::BufReader::with_capacity(256 * 1024, file))
            }
        })
    }
}

/// A failure to read line `number` (an I/O error, not a bad line).
pub struct ReadError {
    pub number: usize,
    pub error: std::io::Error,
}

/// Reads `reader` on a thread of its own; at most `capacity` lines wait in
/// the channel. The thread stops at the end of the input, at a read error
/// (sent last), or when the receiver is dropped.
pub fn spawn(
    reader: Box<dyn BufRead + Send>,
    capacity: usize,
) -> mpsc::Receiver<Result<Numbered, ReadError>> {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    std::thread::spawn(move || {
        let mut lines = Lines { reader };
        let mut number = 0usize;
        while let Some(read) = lines.next_line() {
            number += 1;
            let item = match read {
                Ok((line, bytes)) => Ok(Numbered {
                    number,
                    line,
                    bytes,
                }),
                Err(error) => Err(ReadError { number, error }),
            };
            let stop = item.is_err();
            if tx.blocking_send(item).is_err() || stop {
                return;
            }
        }
    });
    rx
}

/// The input's lines, each at most [`MAX_LINE_BYTES`] long in memory,
/// whatever the input holds.
struct Lines<R> {
    reader: R,
}

impl<R: BufRead> Lines<R> {
    /// The next line and the bytes it took, `None` at the end of the input.
    fn next_line(&mut self) -> Option<std::io::Result<(Line, u64)>> {
        let mut bytes = Vec::new();
        let mut too_long = false;
        let mut taken = 0u64;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Some(Err(e)),
            };
            if chunk.is_empty() {
                break;
            }
            let (part, ended) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], Some(i + 1)),
                None => (chunk, None),
            };
            if !too_long {
                if bytes.len() + part.len() > MAX_LINE_BYTES {
                    too_long = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(part);
                }
            }
            let used = ended.unwrap_or(chunk.len());
            self.reader.consume(used);
            taken += used as u64;
            if ended.is_some() {
                break;
            }
        }
        if taken == 0 {
            return None;
        }
        if too_long {
            return Some(Ok((Line::TooLong, taken)));
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        let line = match String::from_utf8(bytes) {
            Ok(text) => Line::Text(text),
            Err(_) => Line::NotUtf8,
        };
        Some(Ok((line, taken)))
    }
}
