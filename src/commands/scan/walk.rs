//! The inputs a command line names: files, `-` for standard input, and directories, which
//! stand for the files under them.
//!
//! A directory is walked recursively and its files are scanned in byte order of their paths
//! (so `app.log`, `app.log.1`, `app.log.2.gz` come out in that order, and two runs agree).
//! Skipped, as `rg` and `grep -r` users expect:
//! - hidden entries (names starting with `.`: `.git`, editor swap files, lock files);
//! - symbolic links found inside a directory (a link can point back up and loop; name the
//!   link's target on the command line to scan it);
//! - anything that is not a regular file (sockets, FIFOs, devices: reading a FIFO would wait
//!   forever).
//!
//! Files named explicitly are always scanned, hidden or not. Compressed files under a
//! directory are scanned too (decompressed, see `decode`): that is what triage of rotated
//! logs needs.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Standard input (`-`).
    Stdin,
    /// A file, named or found under a named directory.
    File(PathBuf),
}

impl Input {
    /// How the input is named in output: the path, or `-`.
    pub fn display(&self) -> String {
        match self {
            Input::Stdin => "-".to_string(),
            Input::File(p) => p.display().to_string(),
        }
    }
}

/// A path that could not be listed.
#[derive(Debug)]
pub struct WalkError {
    /// The path that failed.
    pub path: PathBuf,
    /// Why.
    pub error: io::Error,
}

/// The inputs `args` name, directories expanded. A named path that does not exist is kept as
/// a file (opening it reports the error, with its name).
pub fn expand(args: &[PathBuf]) -> Result<Vec<Input>, WalkError> {
    let mut out = Vec::new();
    for arg in args {
        if arg == Path::new("-") {
            out.push(Input::Stdin);
        } else if fs::metadata(arg).is_ok_and(|m| m.is_dir()) {
            walk(arg, &mut out)?;
        } else {
            out.push(Input::File(arg.clone()));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Input>) -> Result<(), WalkError> {
    let err = |path: &Path, error| WalkError {
        path: path.to_path_buf(),
        error,
    };
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| err(dir, e))? {
        let entry = entry.map_err(|e| err(dir, e))?;
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        // `file_type` does not follow symbolic links.
        let kind = entry.file_type().map_err(|e| err(&entry.path(), e))?;
        if kind.is_dir() || kind.is_file() {
            entries.push((entry.path(), kind.is_dir()));
        }
    }
    entries.sort_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    for (path, is_dir) in entries {
        if is_dir {
            walk(&path, out)?;
        } else {
            out.push(Input::File(path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_expand_sorted_recursively_skipping_hidden_links_and_specials() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        for f in [
            "app.log.2.gz",
            "app.log",
            "app.log.1",
            "sub/z.log",
            ".hidden.log",
            ".git/x",
        ] {
            let path = p.join(f);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x\n").unwrap();
        }
        std::os::unix::fs::symlink(p.join("app.log"), p.join("link.log")).unwrap();
        std::os::unix::fs::symlink(p, p.join("sub/loop")).unwrap();
        let names: Vec<String> = expand(&[p.to_path_buf()])
            .unwrap()
            .iter()
            .map(|i| match i {
                Input::File(f) => f.strip_prefix(p).unwrap().display().to_string(),
                Input::Stdin => "-".into(),
            })
            .collect();
        assert_eq!(names, ["app.log", "app.log.1", "app.log.2.gz", "sub/z.log"]);
        // Named explicitly, a hidden file and `-` are inputs as they stand.
        let hidden = p.join(".hidden.log");
        assert_eq!(
            expand(&[hidden.clone(), PathBuf::from("-")]).unwrap(),
            [Input::File(hidden), Input::Stdin]
        );
    }
}
