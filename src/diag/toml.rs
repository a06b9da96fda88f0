//! A strict, span-aware reader over a parsed TOML table: typed field access that records a
//! located [`Diagnostic`] for every wrong type, bad value and unknown key, instead of stopping
//! at the first. This is what lets `check` and the daemon report *all* problems at once.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::diag::{Diagnostic, Diagnostics};

/// The file being read: its name (for messages), its text (for line/column), and the problems
/// found so far.
pub struct Source<'t> {
    /// File name as the user gave it.
    pub file: String,
    /// Its full text.
    pub text: &'t str,
    /// Every problem found so far.
    pub diags: Diagnostics,
}

impl<'t> Source<'t> {
    /// Start reading `text`, the content of `file`.
    pub fn new(file: &str, text: &'t str) -> Self {
        Source {
            file: file.to_string(),
            text,
            diags: Diagnostics::default(),
        }
    }

    /// Parse the text as a TOML document; syntax errors are recorded (all of them, with
    /// recovery) and `None` is returned when nothing usable was parsed.
    pub fn parse(&mut self) -> Option<DeTable<'t>> {
        let (table, errors) = DeTable::parse_recoverable(self.text);
        let had_errors = !errors.is_empty();
        for e in errors {
            let offset = e.span().map_or(0, |s| s.start);
            self.error(offset, None, format!("TOML syntax: {}", e.message().trim()));
        }
        if had_errors && table.get_ref().is_empty() {
            return None;
        }
        Some(table.into_inner())
    }

    /// Record a problem at a byte offset.
    pub fn error(&mut self, offset: usize, field: Option<&str>, message: impl Into<String>) {
        let d = Diagnostic::at_offset(
            &self.file,
            self.text,
            offset,
            field.map(str::to_string),
            message,
        );
        self.diags.push(d);
    }
}

/// Typed access to one TOML table; remembers which keys were read so that the rest can be
/// reported as unknown.
pub struct Table<'a, 't> {
    table: &'a DeTable<'t>,
    /// Dotted path of this table (`""` for the root, `sources[0]`, `http.tls`).
    path: String,
    /// Offset of the table itself, for "missing field" messages.
    offset: usize,
    seen: BTreeSet<&'static str>,
}

/// A value together with where it was written.
pub type Located<'a, 't> = &'a Spanned<DeValue<'t>>;

impl<'a, 't> Table<'a, 't> {
    /// Wrap a table found at `path`, starting at `offset`.
    pub fn new(table: &'a DeTable<'t>, path: impl Into<String>, offset: usize) -> Self {
        Table {
            table,
            path: path.into(),
            offset,
            seen: BTreeSet::new(),
        }
    }

    /// The dotted path of `key` inside this table.
    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// Where this table starts.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The raw value of `key`, marking it known.
    pub fn raw(&mut self, key: &'static str) -> Option<Located<'a, 't>> {
        self.seen.insert(key);
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    fn wrong_type(&self, src: &mut Source<'_>, key: &str, v: Located<'_, '_>, want: &str) {
        src.error(
            v.span().start,
            Some(&self.field(key)),
            format!("expected {want}, found {}", v.get_ref().type_str()),
        );
    }

    /// A string field.
    pub fn string(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<(String, usize)> {
        let v = self.raw(key)?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), v.span().start)),
            None => {
                self.wrong_type(src, key, v, "a string");
                None
            }
        }
    }

    /// A boolean field.
    pub fn boolean(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<bool> {
        let v = self.raw(key)?;
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(src, key, v, "true or false");
                None
            }
        }
    }

    /// A positive integer field within `min..=max`.
    pub fn integer(
        &mut self,
        src: &mut Source<'_>,
        key: &'static str,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        let v = self.raw(key)?;
        let Some(i) = v.get_ref().as_integer() else {
            self.wrong_type(src, key, v, "an integer");
            return None;
        };
        let digits: String = i.as_str().chars().filter(|c| *c != '_').collect();
        let digits = digits
            .trim_start_matches('+')
            .trim_start_matches("0x")
            .trim_start_matches("0o")
            .trim_start_matches("0b");
        match u64::from_str_radix(digits, i.radix()) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                src.error(
                    v.span().start,
                    Some(&self.field(key)),
                    format!(
                        "must be an integer from {min} to {max}, found {}",
                        i.as_str()
                    ),
                );
                None
            }
        }
    }

    /// A duration field written as a string (`"5s"`, `"500ms"`).
    pub fn duration(
        &mut self,
        src: &mut Source<'_>,
        key: &'static str,
        min: Duration,
    ) -> Option<Duration> {
        let (s, at) = self.string(src, key)?;
        match crate::duration::parse_duration(&s) {
            Ok(d) if d >= min => Some(d),
            Ok(_) => {
                src.error(
                    at,
                    Some(&self.field(key)),
                    format!(
                        "duration `{s}` is too short; the minimum is {}",
                        crate::duration::format_duration(min)
                    ),
                );
                None
            }
            Err(e) => {
                src.error(at, Some(&self.field(key)), e);
                None
            }
        }
    }

    /// An array of strings; each element keeps its offset.
    pub fn strings(
        &mut self,
        src: &mut Source<'_>,
        key: &'static str,
    ) -> Option<Vec<(String, usize)>> {
        let v = self.raw(key)?;
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(src, key, v, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref().as_str() {
                Some(s) => out.push((s.to_string(), item.span().start)),
                None => src.error(
                    item.span().start,
                    Some(&format!("{}[{i}]", self.field(key))),
                    format!("expected a string, found {}", item.get_ref().type_str()),
                ),
            }
        }
        Some(out)
    }

    /// A sub-table.
    pub fn table(&mut self, src: &mut Source<'_>, key: &'static str) -> Option<Table<'a, 't>> {
        let v = self.raw(key)?;
        match v.get_ref().as_table() {
            Some(t) => Some(Table::new(t, self.field(key), v.span().start)),
            None => {
                self.wrong_type(src, key, v, "a table");
                None
            }
        }
    }

    /// An array of tables (`[[sources]]`).
    pub fn tables(&mut self, src: &mut Source<'_>, key: &'static str) -> Vec<Table<'a, 't>> {
        let Some(v) = self.raw(key) else {
            return Vec::new();
        };
        let Some(items) = v.get_ref().as_array() else {
            self.wrong_type(src, key, v, "an array of tables");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.get_ref().as_table() {
                Some(t) => out.push(Table::new(
                    t,
                    format!("{}[{i}]", self.field(key)),
                    item.span().start,
                )),
                None => src.error(
                    item.span().start,
                    Some(&format!("{}[{i}]", self.field(key))),
                    format!("expected a table, found {}", item.get_ref().type_str()),
                ),
            }
        }
        out
    }

    /// Every key/value pair of a free-form table (e.g. user → password hash), as strings.
    pub fn string_map(&self, src: &mut Source<'_>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (k, v) in self.table.iter() {
            match v.get_ref().as_str() {
                Some(s) => out.push((k.get_ref().to_string(), s.to_string())),
                None => src.error(
                    v.span().start,
                    Some(&self.field(k.get_ref())),
                    format!("expected a string, found {}", v.get_ref().type_str()),
                ),
            }
        }
        out
    }

    /// Report every key that no accessor asked for; `known` is listed in the message.
    pub fn finish(self, src: &mut Source<'_>) {
        let known: Vec<&str> = self.seen.iter().copied().collect();
        for (k, _) in self.table.iter() {
            let key: &Cow<'_, str> = k.get_ref();
            if !self.seen.contains(key.as_ref()) {
                src.error(
                    k.span().start,
                    Some(&self.field(key)),
                    format!("unknown key `{key}`; known keys here: {}", known.join(", ")),
                );
            }
        }
    }
}
