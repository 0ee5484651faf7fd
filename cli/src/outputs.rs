//! Outputs never destroy inputs: before a command creates any file, each
//! output path (`--events`, `--record`, `--svg`, `run-job -o`, `log
//! convert`'s output, and standard output when it is redirected to a file)
//! is compared with each of the run's inputs (the scenario, the traces it
//! reads, the log, the job, the result files), and a match is refused.
//!
//! Two paths are the same file when both exist and share device and inode
//! (hard links, symbolic links, `./a` and `a`), or, when the output does
//! not exist yet, when their canonical forms are equal.

use std::path::{Path, PathBuf};

/// How a clash names standard output.
const STDOUT: &str = "standard output";

/// An output that would overwrite an input: the flag, the output path and
/// the input it is.
#[derive(Debug)]
pub struct Clash {
    pub flag: String,
    pub output: PathBuf,
    pub input: PathBuf,
    /// When the clash is with another output: that output's flag.
    pub other_output: Option<String>,
}

impl std::fmt::Display for Clash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.flag == STDOUT {
            return write!(
                f,
                "standard output is {}, an input of this run: the shell emptied it before coldstart started; nothing was written to it",
                self.input.display()
            );
        }
        if let Some(other) = &self.other_output {
            return write!(
                f,
                "{}: {} is also {other}'s output; give each output its own file (nothing was written)",
                self.flag,
                self.output.display()
            );
        }
        write!(f, "{}: {} is ", self.flag, self.output.display())?;
        if self.output != self.input {
            write!(f, "the same file as {}, ", self.input.display())?;
        }
        write!(
            f,
            "an input of this run; refusing to overwrite it (nothing was written)"
        )
    }
}

#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (metadata.dev(), metadata.ino())
}

/// The canonical form of a path that may not exist yet: its directory's
/// canonical form and its name.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(canonical) = std::fs::canonicalize(path) {
        return Some(canonical);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::canonicalize(parent).ok().map(|dir| dir.join(name))
}

/// Whether `output` names the file `input` names.
pub fn same_file(output: &Path, input: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(a), Ok(b)) = (std::fs::metadata(output), std::fs::metadata(input)) {
        return identity(&a) == identity(&b);
    }
    match (canonical(output), canonical(input)) {
        (Some(a), Some(b)) => a == b,
        _ => output == input,
    }
}

/// Refuses the first output that is one of `inputs` or another output
/// (two flags writing one file would leave only the last), and standard
/// output redirected to one of the inputs.
pub fn check_outputs(inputs: &[PathBuf], outputs: &[(&str, &Path)]) -> Result<(), Clash> {
    for (index, (flag, output)) in outputs.iter().enumerate() {
        if let Some((other_flag, other)) = outputs[..index]
            .iter()
            .find(|(_, other)| same_file(output, other))
        {
            return Err(Clash {
                flag: flag.to_string(),
                output: output.to_path_buf(),
                input: other.to_path_buf(),
                other_output: Some(other_flag.to_string()),
            });
        }
        if let Some(input) = inputs.iter().find(|input| same_file(output, input)) {
            return Err(Clash {
                flag: flag.to_string(),
                output: output.to_path_buf(),
                input: input.clone(),
                other_output: None,
            });
        }
    }
    check_stdout(inputs)
}

/// Standard output redirected (`> FILE`) to an input: the shell has
/// already emptied it, but no report is written over it either.
fn check_stdout(inputs: &[PathBuf]) -> Result<(), Clash> {
    #[cfg(target_os = "linux")]
    {
        let stdout = Path::new("/proc/self/fd/1");
        if let Ok(metadata) = std::fs::metadata(stdout) {
            if metadata.is_file() {
                for input in inputs {
                    if let Ok(other) = std::fs::metadata(input) {
                        if identity(&metadata) == identity(&other) {
                            return Err(Clash {
                                flag: STDOUT.to_string(),
                                output: std::fs::read_link(stdout)
                                    .unwrap_or_else(|_| input.clone()),
                                input: input.clone(),
                                other_output: None,
                            });
                        }
                    }
                }
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = inputs;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_spellings_of_one_file_are_the_same_file() {
        let directory =
            std::env::temp_dir().join(format!("coldstart-outputs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(directory.join("sub")).unwrap();
        let input = directory.join("in.jsonl");
        std::fs::write(&input, "x").unwrap();
        let linked = directory.join("link.jsonl");
        std::fs::hard_link(&input, &linked).unwrap();
        let spelled = directory.join("sub/../in.jsonl");
        let fresh = directory.join("sub/../new.jsonl");
        assert!(same_file(&linked, &input));
        assert!(same_file(&spelled, &input));
        assert!(!same_file(&fresh, &input));
        assert!(same_file(&fresh, &directory.join("new.jsonl")));
        let clash =
            check_outputs(std::slice::from_ref(&input), &[("--events", &linked)]).unwrap_err();
        assert_eq!(clash.input, input);
        assert!(check_outputs(&[input], &[("--events", &fresh)]).is_ok());
        let _ = std::fs::remove_dir_all(&directory);
    }
}
