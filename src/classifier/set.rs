//! The compiled, immutable rule set. (SKELETON: the classifier helper replaces the internals.)

use super::{Classification, MatchContext, Rule, RuleIdx};
use crate::diag::Diagnostics;
use std::path::Path;

/// The Zoom rule file compiled into the binary, so it runs with no files at all.
pub const EMBEDDED_ZOOM_RULES: &str = include_str!("../../rules/zoom-oauth.toml");

/// All rules from one or more rule files, compiled once and shared read-only.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Compile a rule file's text; `origin` names it in diagnostics.
    pub fn from_toml(_text: &str, _origin: &str) -> Result<RuleSet, Diagnostics> {
        Ok(RuleSet::default())
    }

    /// Load and compile rule files; every problem in every file is reported.
    pub fn load(paths: &[&Path]) -> Result<RuleSet, Diagnostics> {
        let _ = paths;
        Ok(RuleSet::default())
    }

    /// A rule set that describes `rules` but matches nothing: for consumers' tests (registry,
    /// exporter) that need rules with ids, codes and texts but no classification.
    pub fn without_matchers(rules: Vec<Rule>) -> RuleSet {
        RuleSet {
            rules,
            ..RuleSet::default()
        }
    }

    /// The embedded Zoom rules.
    pub fn embedded() -> RuleSet {
        RuleSet::from_toml(EMBEDDED_ZOOM_RULES, "<embedded>/zoom-oauth.toml")
            .expect("embedded rules are valid (checked by tests)")
    }

    /// The rules, in file order; a [`RuleIdx`] indexes this slice.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Index of the rule with this id.
    pub fn find(&self, id: &str) -> Option<RuleIdx> {
        self.rules.iter().position(|r| r.id == id)
    }

    /// The rule a record is an instance of, if any. Hot path: no allocation.
    pub fn classify<'r>(
        &self,
        _record: &'r [u8],
        _ctx: &MatchContext<'_>,
    ) -> Option<Classification<'r>> {
        None
    }
}
