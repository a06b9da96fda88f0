//! Discovery: which paths a file source tails, from its include and exclude globs, and which
//! directories must be watched to notice new ones.
//!
//! Each include glob is split into a literal base directory and a pattern below it; discovery
//! walks only the base, only as deep as the pattern can match, so `/var/log/app/*.log` reads
//! one directory, not `/`. A base that does not exist yet is not an error: its nearest
//! existing ancestor is watched so that its creation is noticed.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

/// How deep `**` may descend; bounds the walk against symlink loops and huge trees.
const MAX_DEPTH: usize = 16;

/// A glob that cannot be compiled.
#[derive(Debug, thiserror::Error)]
#[error("invalid glob {glob:?}: {source}")]
pub struct GlobError {
    /// The glob as configured.
    pub glob: String,
    /// Why it is invalid.
    pub source: globset::Error,
}

/// One include glob, split for walking.
#[derive(Debug, Clone)]
struct Root {
    /// Leading components without glob characters.
    base: PathBuf,
    /// Number of path components after `base` (`None`: unbounded, the glob has `**`).
    depth: Option<usize>,
}

/// A directory to watch and whether below it too.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WatchDir {
    /// The directory.
    pub dir: PathBuf,
    /// Watch its subdirectories too.
    pub recursive: bool,
}

/// The compiled include/exclude globs of one source.
#[derive(Debug, Clone)]
pub struct Discovery {
    include: GlobSet,
    exclude: GlobSet,
    /// Exclude globs without a `/` match the file name alone (`*.gz`).
    exclude_names: GlobSet,
    roots: Vec<Root>,
}

/// A relative glob is taken from the current directory, so discovered paths and the paths
/// in `notify` events compare equal.
fn absolute(glob: &str) -> String {
    if Path::new(glob).is_absolute() {
        return glob.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(glob).to_string_lossy().into_owned(),
        Err(_) => glob.to_string(),
    }
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

fn compile(glob: &str) -> Result<Glob, GlobError> {
    crate::sources::compile_glob(glob).map_err(|source| GlobError {
        glob: glob.to_string(),
        source,
    })
}

impl Discovery {
    /// Compile a source's globs.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Discovery, GlobError> {
        let mut inc = GlobSetBuilder::new();
        let mut roots = Vec::new();
        for g in include {
            let g = &absolute(g);
            inc.add(compile(g)?);
            let mut base = PathBuf::new();
            let mut rest = Vec::new();
            for c in Path::new(g).components() {
                let s = c.as_os_str().to_string_lossy();
                if rest.is_empty() && !has_glob_chars(&s) {
                    base.push(c.as_os_str());
                } else {
                    rest.push(s.into_owned());
                }
            }
            let depth = if rest.iter().any(|c| c.contains("**")) {
                None
            } else {
                Some(rest.len())
            };
            if rest.is_empty() {
                // A literal path: walk its directory for exactly that name.
                let parent = base.parent().map(Path::to_path_buf).unwrap_or_default();
                roots.push(Root {
                    base: parent,
                    depth: Some(1),
                });
            } else {
                roots.push(Root { base, depth });
            }
        }
        let mut exc = GlobSetBuilder::new();
        let mut exc_names = GlobSetBuilder::new();
        for g in exclude {
            if g.contains('/') {
                exc.add(compile(&absolute(g))?);
            } else {
                exc_names.add(compile(g)?);
            }
        }
        let build = |b: GlobSetBuilder, what: &[String]| {
            b.build().map_err(|source| GlobError {
                glob: what.join(", "),
                source,
            })
        };
        Ok(Discovery {
            include: build(inc, include)?,
            exclude: build(exc, exclude)?,
            exclude_names: build(exc_names, exclude)?,
            roots,
        })
    }

    /// Whether a path is one this source tails.
    pub fn matches(&self, path: &Path) -> bool {
        self.include.is_match(path)
            && !self.exclude.is_match(path)
            && !path
                .file_name()
                .is_some_and(|n| self.exclude_names.is_match(Path::new(n)))
    }

    /// Every existing regular file (or link to one) the globs match, sorted.
    pub fn discover(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for root in &self.roots {
            let depth = root.depth.unwrap_or(MAX_DEPTH).min(MAX_DEPTH);
            let base = if root.base.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                root.base.clone()
            };
            self.walk(&base, depth, &mut out);
        }
        // Byte order, not component order: the same duplicates end up adjacent, and thousands
        // of paths sort without re-parsing their components at every comparison.
        out.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        out.dedup();
        out
    }

    fn walk(&self, dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = if dir == Path::new(".") {
                PathBuf::from(entry.file_name())
            } else {
                entry.path()
            };
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                self.walk(&path, depth - 1, out);
                continue;
            }
            // Regular files and symlinks to them (Kubernetes' container logs are links).
            let is_file = ft.is_file()
                || (ft.is_symlink() && std::fs::metadata(&path).is_ok_and(|m| m.is_file()));
            if is_file && self.matches(&path) {
                out.push(path);
            }
        }
    }

    /// The directories to watch for new files: each glob's base, or, while the base does not
    /// exist, its nearest existing ancestor (so the base's creation is noticed).
    pub fn watch_dirs(&self) -> Vec<WatchDir> {
        let mut out: Vec<WatchDir> = Vec::new();
        for root in &self.roots {
            let base = if root.base.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                root.base.clone()
            };
            let want = if base.is_dir() {
                WatchDir {
                    dir: base,
                    recursive: root.depth != Some(1),
                }
            } else {
                let mut dir = base.as_path();
                loop {
                    match dir.parent() {
                        Some(p) if !p.as_os_str().is_empty() => {
                            dir = p;
                            if dir.is_dir() {
                                break;
                            }
                        }
                        _ => {
                            dir = Path::new(if base.has_root() { "/" } else { "." });
                            break;
                        }
                    }
                }
                WatchDir {
                    dir: dir.to_path_buf(),
                    recursive: false,
                }
            };
            if !out.contains(&want) {
                out.push(want);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_only_matching_files_and_skips_excluded() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.log"), "x").unwrap();
        std::fs::write(d.join("b.log"), "x").unwrap();
        std::fs::write(d.join("b.log.1"), "x").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/c.log"), "x").unwrap();
        let inc = vec![format!("{}/*.log", d.display())];
        let exc = vec![format!("{}/b.*", d.display())];
        let disc = Discovery::new(&inc, &exc).unwrap();
        assert_eq!(disc.discover(), vec![d.join("a.log")]);
        assert_eq!(
            disc.watch_dirs(),
            vec![WatchDir {
                dir: d.to_path_buf(),
                recursive: false
            }]
        );
        let deep = Discovery::new(&[format!("{}/**/*.log", d.display())], &[]).unwrap();
        assert_eq!(
            deep.discover(),
            vec![d.join("a.log"), d.join("b.log"), d.join("sub/c.log")]
        );
    }

    #[test]
    fn missing_base_watches_nearest_existing_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let disc = Discovery::new(&[format!("{}/not/yet/*.log", d.display())], &[]).unwrap();
        assert!(disc.discover().is_empty());
        assert_eq!(
            disc.watch_dirs(),
            vec![WatchDir {
                dir: d.to_path_buf(),
                recursive: false
            }]
        );
    }

    #[test]
    fn literal_path_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("app.log"), "x").unwrap();
        std::fs::write(d.join("other.log"), "x").unwrap();
        let disc = Discovery::new(&[format!("{}/app.log", d.display())], &[]).unwrap();
        assert_eq!(disc.discover(), vec![d.join("app.log")]);
    }
}
