//! Reading the user's files with bounds: every reader of a file in the
//! library and the command line (scenarios, traces, logs, the command
//! line's job and result files) opens it here, so that a directory, a FIFO
//! or a device is refused by name before anything blocks on it or reads it
//! forever, a whole-file read stops at a size limit before parsing, and a
//! line stops at a length limit before it is kept.
//!
//! The limits are far above any real file of each kind (a scenario of
//! hundreds of hosts is a few kilobytes, a trace line under a hundred
//! bytes) and small enough that a hostile file costs at most a few hundred
//! megabytes.

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::Path;

/// The largest scenario file read (bytes): checked before parsing, so a
/// huge list is refused without building it.
pub const SCENARIO_BYTES_MAX: u64 = 4 << 20;
/// The longest line of a trace file, either format (bytes, without its
/// ending): a 2019 counts line of 1,440 minutes is under 20 KB.
pub const TRACE_LINE_BYTES_MAX: usize = 1 << 20;

/// The longest value a message echoes (characters).
pub const ECHO_CHARS_MAX: usize = 80;

/// The UTF-8 byte order mark.
pub const BOM: &str = "\u{feff}";

/// The longest message a problem from a dependency (a parser's) may
/// take, values it quotes included (characters).
pub const MESSAGE_CHARS_MAX: usize = 300;

/// `text`, cut to [`ECHO_CHARS_MAX`] characters, with an ellipsis and its
/// full length when cut, so a message stays one readable line.
pub fn echo(text: &str) -> String {
    echo_up_to(text, ECHO_CHARS_MAX)
}

/// `text` on one line (line breaks as spaces), cut to `chars_max`
/// characters as [`echo`] cuts.
pub fn echo_up_to(text: &str, chars_max: usize) -> String {
    let one_line = |text: &str| text.replace(['\n', '\r'], " ");
    match text.char_indices().nth(chars_max) {
        Some((cut, _)) => format!("{}… ({} bytes)", one_line(&text[..cut]), text.len()),
        None => one_line(text),
    }
}

/// Why a file cannot be read. Its `Display` is one line, without the path
/// (the caller names the file).
#[derive(Debug)]
#[non_exhaustive]
pub enum FileProblem {
    /// Not a regular file: what it is instead.
    NotRegular(&'static str),
    /// Larger than the limit of its kind.
    TooLarge {
        /// The limit, in bytes.
        bytes_max: u64,
    },
    /// Not UTF-8 text (whole-file reads).
    NotUtf8,
    /// The operating system's error.
    Io(std::io::Error),
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileProblem::NotRegular(what) => write!(f, "{what}, not a regular file"),
            FileProblem::TooLarge { bytes_max } => {
                write!(f, "larger than the limit of {bytes_max} bytes")
            }
            FileProblem::NotUtf8 => write!(f, "not UTF-8 text"),
            FileProblem::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for FileProblem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FileProblem::Io(error) => Some(error),
            _ => None,
        }
    }
}

impl From<std::io::Error> for FileProblem {
    fn from(error: std::io::Error) -> Self {
        FileProblem::Io(error)
    }
}

/// What a non-regular file is, in words.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Checks that `path` is a regular file (following links), before it is
/// opened: opening a FIFO would block until a writer comes.
pub fn check_regular(path: &Path) -> Result<(), FileProblem> {
    let metadata = std::fs::metadata(path)?;
    if metadata.is_file() {
        Ok(())
    } else {
        Err(FileProblem::NotRegular(kind_of(metadata.file_type())))
    }
}

/// Opens a regular file for reading; anything else is refused unopened.
pub fn open_regular(path: &Path) -> Result<File, FileProblem> {
    check_regular(path)?;
    let file = File::open(path)?;
    // The path may have changed between the check and the open.
    let metadata = file.metadata()?;
    if !metadata.is_file() {
        return Err(FileProblem::NotRegular(kind_of(metadata.file_type())));
    }
    Ok(file)
}

/// Reads a regular file of at most `bytes_max` bytes as UTF-8 text; reads
/// at most one byte past the limit whatever the file claims.
pub fn read_text(path: &Path, bytes_max: u64) -> Result<String, FileProblem> {
    let file = open_regular(path)?;
    if file.metadata()?.len() > bytes_max {
        return Err(FileProblem::TooLarge { bytes_max });
    }
    let mut bytes = Vec::new();
    file.take(bytes_max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > bytes_max {
        return Err(FileProblem::TooLarge { bytes_max });
    }
    String::from_utf8(bytes).map_err(|_| FileProblem::NotUtf8)
}

/// Why a line cannot be read: longer than its limit, or an I/O error.
#[derive(Debug)]
#[non_exhaustive]
pub enum LineProblem {
    /// The line went on past `bytes_max` bytes without ending.
    TooLong {
        /// The limit, in bytes, without the line's ending.
        bytes_max: usize,
    },
    /// The operating system's error while reading.
    Io(std::io::Error),
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineProblem::TooLong { bytes_max } => {
                write!(f, "the line is longer than the limit of {bytes_max} bytes")
            }
            LineProblem::Io(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for LineProblem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LineProblem::Io(error) => Some(error),
            LineProblem::TooLong { .. } => None,
        }
    }
}

/// Reads one line, its ending included, into `buffer` (cleared first),
/// keeping at most `bytes_max` bytes before the newline: a line that never
/// ends is refused after `bytes_max + 1` bytes. Returns the bytes read, 0
/// at the end of the input.
pub fn read_line_bounded<R: BufRead>(
    reader: &mut R,
    buffer: &mut Vec<u8>,
    bytes_max: usize,
) -> Result<usize, LineProblem> {
    buffer.clear();
    let limit = bytes_max as u64 + 1;
    let read = reader
        .by_ref()
        .take(limit)
        .read_until(b'\n', buffer)
        .map_err(LineProblem::Io)?;
    if read as u64 == limit && buffer.last() != Some(&b'\n') {
        return Err(LineProblem::TooLong { bytes_max });
    }
    Ok(read)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(text: &[u8], bytes_max: usize) -> Vec<Result<String, String>> {
        let mut reader = std::io::BufReader::with_capacity(3, text);
        let mut buffer = Vec::new();
        let mut lines = Vec::new();
        loop {
            match read_line_bounded(&mut reader, &mut buffer, bytes_max) {
                Ok(0) => return lines,
                Ok(_) => lines.push(Ok(String::from_utf8(buffer.clone()).unwrap())),
                Err(problem) => {
                    lines.push(Err(problem.to_string()));
                    return lines;
                }
            }
        }
    }

    #[test]
    fn a_line_at_the_limit_is_read_and_one_past_it_refused() {
        assert_eq!(
            lines_of(b"abcd\nab\nabc", 4),
            [Ok("abcd\n".into()), Ok("ab\n".into()), Ok("abc".into())]
        );
        assert_eq!(lines_of(b"abcd", 4), [Ok("abcd".into())]);
        assert_eq!(
            lines_of(b"ab\nabcde\n", 4),
            [
                Ok("ab\n".into()),
                Err("the line is longer than the limit of 4 bytes".into())
            ]
        );
        // A line that never ends stops one byte past the limit.
        let mut endless = std::io::BufReader::new(std::io::repeat(b'x'));
        let mut buffer = Vec::new();
        assert!(matches!(
            read_line_bounded(&mut endless, &mut buffer, 1000),
            Err(LineProblem::TooLong { bytes_max: 1000 })
        ));
        assert_eq!(buffer.len(), 1001);
    }

    #[test]
    fn echo_cuts_long_values() {
        assert_eq!(echo("short"), "short");
        let long = "é".repeat(100);
        assert_eq!(echo(&long), format!("{}… (200 bytes)", "é".repeat(80)));
    }

    #[test]
    fn only_regular_files_are_read() {
        let directory = std::env::temp_dir();
        assert_eq!(
            read_text(&directory, 10).unwrap_err().to_string(),
            "a directory, not a regular file"
        );
        #[cfg(unix)]
        assert_eq!(
            read_text(Path::new("/dev/zero"), 10)
                .unwrap_err()
                .to_string(),
            "a device, not a regular file"
        );
        let path = directory.join(format!("coldstart-files-{}", std::process::id()));
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_text(&path, 10).unwrap(), "0123456789");
        assert_eq!(
            read_text(&path, 9).unwrap_err().to_string(),
            "larger than the limit of 9 bytes"
        );
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            read_text(&path, 9).unwrap_err().to_string(),
            "not UTF-8 text"
        );
        let _ = std::fs::remove_file(&path);
    }
}
