//! Diagnostics that point a person at the exact place to fix: `file:line:column: field: message`.
//!
//! Every loader (config, rule files, checkpoints) reports through these types, and validation
//! collects *every* problem before failing, so a user fixes a file in one pass.

pub mod toml;

use std::fmt;

/// One problem in one input file, located as precisely as the parser allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user named it (or `<embedded>` for the built-in rules).
    pub file: String,
    /// 1-based line; 0 when the problem is not tied to a line (e.g. the file is unreadable).
    pub line: usize,
    /// 1-based column; 0 when unknown.
    pub column: usize,
    /// The dotted field path (`sources[1].format`, `rules.invalid_grant.patterns[0]`), if any.
    pub field: Option<String>,
    /// What is wrong, in words that say how to fix it.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic located at a byte offset of `text`, the content of `file`.
    pub fn at_offset(
        file: &str,
        text: &str,
        offset: usize,
        field: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_col(text, offset);
        Diagnostic {
            file: file.to_string(),
            line,
            column,
            field,
            message: message.into(),
        }
    }

    /// A diagnostic about one field of `file` whose place in it is not known (a flag, or a
    /// value that only failed when it was used, like a TLS file that does not load).
    pub fn field(file: &str, field: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: 0,
            column: 0,
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// A diagnostic about a whole file (unreadable, missing).
    pub fn whole_file(file: &str, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_string(),
            line: 0,
            column: 0,
            field: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if self.column > 0 {
                write!(f, ":{}", self.column)?;
            }
        }
        write!(f, ": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)
    }
}

/// Every problem found in one validation pass; the error type of all loaders.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// True when no problem was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Add one problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    /// Order the problems as a person fixes them: files in the order they first appear,
    /// and within a file by line and column; problems not tied to a line come last.
    pub fn sort_by_place(&mut self) {
        let mut files: Vec<String> = Vec::new();
        for d in &self.0 {
            if !files.contains(&d.file) {
                files.push(d.file.clone());
            }
        }
        self.0.sort_by_key(|d| {
            let file = files.iter().position(|f| *f == d.file).unwrap_or(0);
            (file, d.line == 0, d.line, d.column)
        });
    }

    /// The files that have problems, each once, in order of first appearance.
    pub fn files(&self) -> Vec<&str> {
        let mut files: Vec<&str> = Vec::new();
        for d in &self.0 {
            if !files.contains(&d.file.as_str()) {
                files.push(&d.file);
            }
        }
        files
    }

    /// `Ok(value)` when empty, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, Diagnostics> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

/// 1-based (line, column) of a byte offset in `text`; columns count characters, not bytes.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_chars() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(text, 9), (2, 3));
    }

    #[test]
    fn problems_sort_by_file_then_line_with_unplaced_ones_last() {
        let at = |file: &str, line, column| Diagnostic {
            file: file.into(),
            line,
            column,
            field: None,
            message: String::new(),
        };
        let mut d = Diagnostics(vec![
            at("c.toml", 9, 1),
            at("r.toml", 2, 1),
            at("c.toml", 0, 0),
            at("c.toml", 2, 5),
            at("c.toml", 2, 1),
            at("r.toml", 1, 1),
        ]);
        d.sort_by_place();
        let got: Vec<(String, usize, usize)> =
            d.0.iter()
                .map(|x| (x.file.clone(), x.line, x.column))
                .collect();
        let want = [
            ("c.toml", 2, 1),
            ("c.toml", 2, 5),
            ("c.toml", 9, 1),
            ("c.toml", 0, 0),
            ("r.toml", 1, 1),
            ("r.toml", 2, 1),
        ];
        assert_eq!(got, want.map(|(f, l, c)| (f.to_string(), l, c)).to_vec());
        assert_eq!(d.files(), vec!["c.toml", "r.toml"]);
    }

    #[test]
    fn display_names_file_line_column_and_field() {
        let d = Diagnostic::at_offset(
            "config.toml",
            "x\ny",
            2,
            Some("sources[0].format".into()),
            "unknown format `xml`",
        );
        assert_eq!(
            d.to_string(),
            "config.toml:2:1: sources[0].format: unknown format `xml`"
        );
    }
}
