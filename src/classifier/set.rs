//! The compiled, immutable rule set and the hot-path `classify`.
//!
//! Built once from validated [`FileSpec`]s; afterwards read-only (each pattern's regex is
//! compiled on first use, behind a `OnceLock`), `Send + Sync`, shared behind an `Arc`. `classify` allocates nothing: it runs one Aho-Corasick pass (the provider gate or
//! the rule-literal gate) over the record, and only a record that passes it meets a regex.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use super::lazy::{LazyAutomaton, LazyRegex, Match};
use super::pattern;
use super::prefilter;
use super::routing::{Found, Routing, RoutingBuilder};
use super::rulefile::{self, diag_at, CheckSpec, Compile, FileSpec};
use super::{Classification, MatchContext, Rule, RuleIdx};
use crate::diag::{Diagnostic, Diagnostics};

/// The Zoom rule file compiled into the binary, so it runs with no files at all.
pub(crate) const EMBEDDED_ZOOM_RULES: &str = include_str!("../../rules/zoom-oauth.toml");

/// The name the embedded rule file has in diagnostics.
pub const EMBEDDED_ORIGIN: &str = "<embedded>/zoom-oauth.toml";

/// Longest reason text returned in a [`Classification`].
const MAX_REASON_BYTES: usize = 200;

/// All rules from one or more rule files, compiled once and shared read-only.
#[derive(Debug, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    providers: Vec<ProviderMatcher>,
    /// Per rule: the SHA-256 (hex) of the rule file it came from, so a fleet can tell which
    /// version of a rule file each instance runs (`sha256sum` of the file gives the same).
    file_sha256: Vec<String>,
}

/// The compiled matcher of one rule file (one provider).
#[derive(Debug)]
struct ProviderMatcher {
    provider: String,
    /// Global indices of this file's rules.
    range: Range<RuleIdx>,
    /// The gate for records whose source is not declared to talk only to this provider: the
    /// evidence literals (a name such as `zoom`, and the words each evidence pattern starts
    /// with: `reason`, `errorCode`, `(4,7`, `"code"`…), so a record with no evidence is
    /// dismissed in one pass. Bare numeric literals (`4734`) or words such as `error` would
    /// be too common in logs for a one-pass prefilter.
    provider_gate: prefilter::Gate,
    /// What shows a record is this provider's, in file order.
    evidence: Vec<Evidence>,
    /// What keeps a record out, in file order. `exclude` is the fast literal check over the
    /// exclusions that have no `unless`; the others are checked one by one.
    exclusions: Vec<Exclusion>,
    /// Rule and code-pattern literals: the gate for a source declared to talk only to this
    /// provider, searched over whole batches by [`RuleSet::next_candidate`]. Built on first
    /// use ([`ProviderMatcher::rule_gate`]): finding the words inside each pattern was a third
    /// of start-up, and with no declared source it is never needed.
    rule_gate: OnceLock<prefilter::Gate>,
    /// What `rule_gate` is built from: each rule and code pattern, with its leading literals.
    rule_gate_patterns: Vec<(PatId, Vec<Vec<u8>>)>,
    /// The same literals, kept per rule (not minimised across rules): the routing pass over
    /// a candidate record says which rules can match and whether a code can be there, so
    /// only those regexes run.
    route_literals: Vec<Vec<u8>>,
    /// Per `route_literals` entry: the bit of the rule (position in the file) it belongs to,
    /// or [`CODE_BIT`] for a code-pattern literal.
    route_bits: Vec<u64>,
    /// The routing pass over a candidate record (built on first use, see
    /// [`ProviderMatcher::routing`]): the rule routing word from `route_literals`, and one
    /// key per pattern (its leading literals as compiled: none there, no match) and per
    /// literal list of the evidence and exclusions.
    routing: OnceLock<Routing>,
    /// Every pattern of the file, each once (a pattern written twice is compiled once),
    /// compiled on first use; the matchers below hold indices into it.
    regexes: Vec<LazyRegex>,
    code_patterns: Vec<PatId>,
    /// Code → the rules carrying it, in file order.
    by_code: Vec<(Vec<u8>, Vec<RuleIdx>)>,
    /// Specific rules in file order, each with its patterns (compiled one by one when the file
    /// was read; any of them matching is the rule matching).
    matchers: Vec<(RuleIdx, AnyOf)>,
    catch_all: Option<(RuleIdx, AnyOf)>,
    reason_patterns: Vec<PatId>,
}

/// Index of a pattern in [`ProviderMatcher::regexes`].
type PatId = u32;

/// Builds [`ProviderMatcher::regexes`]: each distinct pattern text once.
struct PatternTable<'f> {
    origin: &'f str,
    regexes: Vec<LazyRegex>,
}

impl PatternTable<'_> {
    /// The index of the pattern `text` (validated, and compiled if `compiled` is given),
    /// added if it is new.
    fn add(
        &mut self,
        text: &str,
        field: &str,
        compiled: Option<&regex_automata::meta::Regex>,
    ) -> PatId {
        let i = match self.regexes.iter().position(|r| r.text() == text) {
            Some(i) => i,
            None => {
                let place = format!("{}: {field}", self.origin);
                self.regexes
                    .push(LazyRegex::new(text, place, compiled.cloned()));
                self.regexes.len() - 1
            }
        };
        i as PatId
    }

    fn checks(&mut self, checks: &[CheckSpec]) -> Vec<PatId> {
        checks
            .iter()
            .map(|c| self.add(&c.text, &c.field, c.compiled.as_ref()))
            .collect()
    }

    fn patterns(&mut self, patterns: &[rulefile::PatternSpec]) -> Vec<PatId> {
        patterns
            .iter()
            .map(|p| self.add(&p.text, &p.field, p.compiled.as_ref()))
            .collect()
    }
}

/// SHA-256 of `bytes` in lower-case hex, as `sha256sum` prints it.
fn sha256_hex(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What shows an evidence or an exclusion in a record: one of its literals or patterns,
/// unless one of its lookalike patterns matches too.
#[derive(Debug)]
struct Signature {
    literals: Option<LazyAutomaton>,
    /// The routing key of `literals` (see [`ProviderMatcher::routing`]).
    key: usize,
    pattern: Option<AnyOf>,
    unless: Option<AnyOf>,
}

impl Signature {
    /// One of the literals or patterns is in the record (before `unless`).
    fn shown(&self, res: &[LazyRegex], record: &[u8], found: &Found) -> bool {
        self.literals
            .as_ref()
            .is_some_and(|ac| literals_in(ac, self.key, record, found))
            || self
                .pattern
                .as_ref()
                .is_some_and(|re| re.is_match(res, record, found))
    }

    /// The record is a lookalike: one of the `unless` patterns matches.
    fn voided(&self, res: &[LazyRegex], record: &[u8], found: &Found) -> bool {
        self.unless
            .as_ref()
            .is_some_and(|re| re.is_match(res, record, found))
    }

    /// Shown and not voided.
    fn holds(&self, res: &[LazyRegex], record: &[u8], found: &Found) -> bool {
        self.shown(res, record, found) && !self.voided(res, record, found)
    }
}

/// One compiled `[[evidence]]` entry.
#[derive(Debug)]
struct Evidence {
    name: String,
    about: String,
    /// The evidence's shape (before the message check).
    sig: Signature,
    needs_message: bool,
    message_follows: bool,
    /// With `message_follows`: the patterns one by one, to find where each match ends.
    each: Vec<PatId>,
}

/// One compiled `[[exclusions]]` entry.
#[derive(Debug)]
struct Exclusion {
    name: String,
    about: String,
    sig: Signature,
}

impl Exclusion {
    /// What in the record triggers this exclusion, if anything: [`Signature::holds`], and
    /// where (a match's start costs a reverse search; only explanations show it).
    fn hit<'r>(&self, res: &[LazyRegex], record: &'r [u8], found: &Found) -> Option<&'r [u8]> {
        let sig = &self.sig;
        let shown = match sig.literals.as_ref().and_then(|ac| ac.get().find(record)) {
            Some(m) => Some(&record[m.start()..m.end()]),
            None => sig
                .pattern
                .as_ref()
                .and_then(|re| re.find(res, record, found))
                .map(|m| m.as_bytes()),
        }?;
        (!sig.voided(res, record, found)).then_some(shown)
    }
}

/// Text between the start of a value and a message found after it, when both are in the same
/// value: short, with no quote, backslash or line break between them.
fn same_value(gap: &[u8]) -> bool {
    gap.len() <= MAX_REASON_BYTES
        && !gap
            .iter()
            .any(|&b| matches!(b, b'"' | b'\'' | b'\\' | b'\n' | b'\r' | 0xE2))
}

/// Several checked patterns (indices into the matcher's [`LazyRegex`] table), any of which
/// may match. Each is compiled alone, so the set is not compiled a second time as one
/// alternation (which doubled start-up time).
#[derive(Debug)]
struct AnyOf(Vec<PatId>);

impl AnyOf {
    /// The patterns, or `None` for none.
    fn new(ids: Vec<PatId>) -> Option<AnyOf> {
        (!ids.is_empty()).then_some(AnyOf(ids))
    }

    /// Whether any pattern matches `haystack`, whose routing pass found `found` (a pattern
    /// whose leading literals are not there is not searched).
    fn is_match(&self, res: &[LazyRegex], haystack: &[u8], found: &Found) -> bool {
        self.0
            .iter()
            .any(|&id| may_match(found, res.len(), id) && res[id as usize].is_match(haystack))
    }

    /// The leftmost match of any pattern (the first pattern's on a tie), as the alternation
    /// of the patterns in order would find it.
    fn find<'h>(&self, res: &[LazyRegex], haystack: &'h [u8], found: &Found) -> Option<Match<'h>> {
        self.find_at(res, haystack, 0, found)
    }

    /// [`AnyOf::find`] from offset `start` (look-around sees the bytes before it).
    fn find_at<'h>(
        &self,
        res: &[LazyRegex],
        haystack: &'h [u8],
        start: usize,
        found: &Found,
    ) -> Option<Match<'h>> {
        let mut best: Option<Match<'h>> = None;
        for &id in &self.0 {
            if !may_match(found, res.len(), id) {
                continue;
            }
            if let Some(m) = res[id as usize].find_at(haystack, start) {
                if best.is_none_or(|b| m.start() < b.start()) {
                    best = Some(m);
                }
            }
        }
        best
    }
}

/// Whether pattern `id` (of `patterns`) can match a record whose routing pass found `found`:
/// both its routing keys are set. Key `id` is set when one of the pattern's leading literals
/// is there, key `patterns + id` when one of its inner literals is (see
/// `pattern::MatchLiterals`); a key is set for every record when the pattern has no such
/// literals, and a key the pass does not track counts as set.
fn may_match(found: &Found, patterns: usize, id: PatId) -> bool {
    let id = id as usize;
    found.get(id) != Some(false) && found.get(patterns + id) != Some(false)
}

/// Whether one of `ac`'s literals, routed under `key`, is in `record`: from the routing pass,
/// or by searching when the pass does not track the key.
fn literals_in(ac: &LazyAutomaton, key: usize, record: &[u8], found: &Found) -> bool {
    found.get(key).unwrap_or_else(|| ac.get().is_match(record))
}

/// Longest literal of a pattern the routing pass keeps, as long as the gate's: cut at 32
/// bytes, a few more patterns were skipped, but the pass had half as many literals again to
/// compare at each position and cost more than it saved.
const ROUTE_LITERAL_LEN: usize = prefilter::MAX_LITERAL_LEN;

fn literal_automaton(lits: &[String]) -> Option<LazyAutomaton> {
    (!lits.is_empty())
        .then(|| LazyAutomaton::new(lits.iter().map(|l| l.as_bytes().to_vec()).collect()))
}

// Every record is matched on its folded copy (see `prefilter::fold`); the copy lives in this
// per-thread buffer, reused, so the hot path does not allocate once it is warm.
thread_local! {
    static FOLDED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `record`'s folded copy, for the paths that are not hot (explanations, example checks).
fn folded(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len());
    prefilter::fold(record, &mut out);
    out
}

/// Routing bit of the code patterns.
const CODE_BIT: u64 = 1 << 63;

/// Routing bits for rule `i` of a file; files with more than 63 rules route their later rules
/// as "always try" (all bits but the code bit).
fn rule_bit(i: usize) -> u64 {
    if i < 63 {
        1 << i
    } else {
        !CODE_BIT
    }
}

/// An explicit code found in a record, kept on the stack.
#[derive(Clone, Copy)]
struct FoundCode {
    digits: [u8; 8],
    len: usize,
}

impl FoundCode {
    fn as_bytes(&self) -> &[u8] {
        &self.digits[..self.len]
    }
}

impl ProviderMatcher {
    /// Build one file's matcher from its validated patterns (each checked against the regex
    /// size limit when the file was read); they are compiled on first use.
    fn compile(file: &FileSpec, base: RuleIdx) -> ProviderMatcher {
        let mut table = PatternTable {
            origin: &file.origin,
            regexes: Vec::new(),
        };
        let mut gate_lits: Vec<Vec<u8>> = Vec::new();
        for e in &file.evidence {
            gate_lits.extend(e.literals.iter().map(|l| {
                let l = l.as_bytes();
                l[..l.len().min(prefilter::MAX_LITERAL_LEN)].to_ascii_lowercase()
            }));
            gate_lits.extend(e.patterns.iter().flat_map(|p| p.literals.iter().cloned()));
        }
        let gate_lits = prefilter::minimise(gate_lits);
        let code_lits: Vec<Vec<u8>> = prefilter::minimise(
            file.code_patterns
                .iter()
                .flat_map(|p| p.literals.iter().cloned())
                .collect(),
        );
        let rule_gate_patterns = file
            .rules
            .iter()
            .flat_map(|r| &r.patterns)
            .chain(&file.code_patterns)
            .map(|p| {
                let id = table.add(&p.text, &p.field, p.compiled.as_ref());
                (id, p.literals.clone())
            })
            .collect();
        let exclusions = file
            .exclusions
            .iter()
            .map(|x| Exclusion {
                name: x.name.value.clone(),
                about: x.about.clone(),
                sig: Signature {
                    literals: literal_automaton(&x.literals),
                    key: 0,
                    pattern: AnyOf::new(table.checks(&x.patterns)),
                    unless: AnyOf::new(table.checks(&x.unless)),
                },
            })
            .collect();
        let evidence = file
            .evidence
            .iter()
            .map(|e| {
                let patterns = table.patterns(&e.patterns);
                Evidence {
                    name: e.name.value.clone(),
                    about: e.about.clone(),
                    each: if e.message_follows {
                        patterns.clone()
                    } else {
                        Vec::new()
                    },
                    sig: Signature {
                        literals: literal_automaton(&e.literals),
                        key: 0,
                        pattern: AnyOf::new(patterns),
                        unless: AnyOf::new(table.checks(&e.unless)),
                    },
                    needs_message: e.needs_message,
                    message_follows: e.message_follows,
                }
            })
            .collect();
        let mut route_lits: Vec<Vec<u8>> = Vec::new();
        let mut route_bits: Vec<u64> = Vec::new();
        for (i, r) in file.rules.iter().enumerate() {
            for lit in prefilter::minimise(
                r.patterns
                    .iter()
                    .flat_map(|p| p.literals.iter().cloned())
                    .collect(),
            ) {
                route_lits.push(lit);
                route_bits.push(rule_bit(i));
            }
        }
        for lit in &code_lits {
            route_lits.push(lit.clone());
            route_bits.push(CODE_BIT);
        }
        let mut by_code: Vec<(Vec<u8>, Vec<RuleIdx>)> = Vec::new();
        let mut matchers = Vec::new();
        let mut catch_all = None;
        for (i, r) in file.rules.iter().enumerate() {
            let idx = base + i;
            let Some(re) = AnyOf::new(table.patterns(&r.patterns)) else {
                continue;
            };
            if r.is_catch_all() {
                catch_all = Some((idx, re));
                continue;
            }
            matchers.push((idx, re));
            for c in &r.codes {
                let key = c.as_bytes().to_vec();
                match by_code.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, v)) => v.push(idx),
                    None => by_code.push((key, vec![idx])),
                }
            }
        }
        let code_patterns = table.patterns(&file.code_patterns);
        let reason_patterns = table.checks(&file.reason_patterns);
        let mut matcher = ProviderMatcher {
            provider: file.provider.clone(),
            range: base..base + file.rules.len(),
            provider_gate: prefilter::Gate::new(&gate_lits),
            evidence,
            exclusions,
            rule_gate: OnceLock::new(),
            rule_gate_patterns,
            route_literals: route_lits,
            route_bits,
            routing: OnceLock::new(),
            regexes: table.regexes,
            code_patterns,
            by_code,
            matchers,
            catch_all,
            reason_patterns,
        };
        // Routing keys: two per pattern (see `may_match`), then one per signature.
        let first = 2 * matcher.regexes.len();
        let sigs = (matcher.evidence.iter_mut().map(|e| &mut e.sig))
            .chain(matcher.exclusions.iter_mut().map(|x| &mut x.sig));
        for (i, sig) in sigs.enumerate() {
            sig.key = first + i;
        }
        matcher
    }

    /// The signatures of the evidence, then of the exclusions (the order of their routing
    /// keys).
    fn signatures(&self) -> impl Iterator<Item = &Signature> {
        (self.evidence.iter().map(|e| &e.sig)).chain(self.exclusions.iter().map(|x| &x.sig))
    }

    /// The declared source's gate: for each rule and code pattern, the literals one of which
    /// every match contains (a longer word inside the pattern where its first word is a
    /// common one), built the first time it is needed.
    fn rule_gate(&self) -> &prefilter::Gate {
        self.rule_gate.get_or_init(|| {
            let lits = self
                .rule_gate_patterns
                .iter()
                .flat_map(|(id, leading)| {
                    prefilter::gate_literals(self.regexes[*id as usize].text())
                        .unwrap_or_else(|_| leading.clone())
                })
                .collect();
            prefilter::Gate::new(&prefilter::minimise(lits))
        })
    }

    /// The routing pass of this file (see [`ProviderMatcher::routing`]'s field), built the
    /// first time a record needs it: finding each pattern's leading literals as compiled
    /// parses every pattern again, which start-up need not pay for.
    fn routing(&self) -> &Routing {
        self.routing.get_or_init(|| {
            let mut b = RoutingBuilder::default();
            for (lit, &bits) in self.route_literals.iter().zip(&self.route_bits) {
                b.route(lit, bits);
            }
            let variants: Vec<String> = pattern::ASCII_FOLD_VARIANTS
                .iter()
                .map(char::to_string)
                .collect();
            let n = self.regexes.len();
            for (id, re) in self.regexes.iter().enumerate() {
                // Two keys per pattern, its leading and its inner literals (see
                // `may_match`). Minimised: a literal holding another of the same key adds
                // nothing. A record with a variant spelling (`ſ` for `s`) is searched with
                // every pattern. A key with a word of one or two bytes (`of`, `>`) is set for
                // every record: such a word is in nearly all of them anyway.
                let m = pattern::match_literals(re.text(), ROUTE_LITERAL_LEN);
                for (key, lits) in [(id, m.leading), (n + id, m.inner)] {
                    match lits {
                        Some(lits)
                            if lits.iter().all(|l| l.len() >= prefilter::MIN_LITERAL_LEN) =>
                        {
                            for l in prefilter::minimise(lits) {
                                b.key(&l, key);
                            }
                            for v in &variants {
                                b.key(v.as_bytes(), key);
                            }
                        }
                        _ => b.always(key),
                    }
                }
            }
            for sig in self.signatures() {
                for l in sig.literals.iter().flat_map(|ac| ac.literals()) {
                    b.key(l, sig.key);
                }
            }
            b.build()
        })
    }

    /// The explicit code in a record: the digits of the first code-pattern match.
    fn explicit_code(&self, record: &[u8], found: &Found) -> Option<FoundCode> {
        for &id in &self.code_patterns {
            if !may_match(found, self.regexes.len(), id) {
                continue;
            }
            if let Some(m) = self.regexes[id as usize].find(record) {
                let mut found = FoundCode {
                    digits: [0; 8],
                    len: 0,
                };
                for &b in m.as_bytes() {
                    if b.is_ascii_digit() && found.len < found.digits.len() {
                        found.digits[found.len] = b;
                        found.len += 1;
                    }
                }
                if found.len > 0 {
                    return Some(found);
                }
            }
        }
        None
    }

    /// The provider's reason text: from the end of the first reason-pattern match to the
    /// closing quote (or, unquoted, to a delimiter), at most [`MAX_REASON_BYTES`].
    fn reason<'r>(&self, record: &'r [u8], found: &Found) -> Option<&'r [u8]> {
        for &id in &self.reason_patterns {
            if !may_match(found, self.regexes.len(), id) {
                continue;
            }
            let Some(m) = self.regexes[id as usize].find(record) else {
                continue;
            };
            let start = m.end();
            let rest = &record[start..];
            let quoted = m.as_bytes().last().is_some_and(|&b| {
                matches!(b, b'"' | b'\'') || b >= 0x80 // a typographic quote's last byte
            });
            let end = rest
                .iter()
                .position(|&b| {
                    matches!(b, b'"' | b'\'' | b'\\' | b'\n' | b'\r')
                        || (!quoted && matches!(b, b',' | b'}'))
                        || (b == 0xE2) // start of ’ ” (typographic closing quotes)
                })
                .unwrap_or(rest.len())
                .min(MAX_REASON_BYTES);
            let text = trim_ascii(&rest[..end]);
            if !text.is_empty() {
                return Some(text);
            }
        }
        None
    }

    /// `Some(true)` for a source declared to talk only to this provider, `Some(false)` for an
    /// undeclared one, `None` for a source declared for another provider.
    fn declared(&self, ctx: &MatchContext<'_>) -> Option<bool> {
        match ctx.provider {
            Some(p) if p == self.provider => Some(true),
            Some(_) => None,
            None => Some(false),
        }
    }

    /// Classify `record`, whose folded copy (see `prefilter::fold`) is `text`: every matcher
    /// runs on `text`, and the reason is cut from `record` at the same offsets.
    fn classify<'r>(
        &self,
        record: &'r [u8],
        text: &[u8],
        ctx: &MatchContext<'_>,
    ) -> Option<Classification<'r>> {
        let declared = self.declared(ctx)?;
        // The same one-pass gate as `RuleSet::next_candidate`'s: the routing pass below is a
        // byte-at-a-time automaton, too slow for the ~99% of records that hold no literal.
        let gate = if declared {
            self.rule_gate()
        } else {
            &self.provider_gate
        };
        if !gate.is_match(text) {
            return None;
        }
        let c = self.classify_text(text, declared)?;
        let reason = c.reason.map(|r| {
            let start = r.as_ptr() as usize - text.as_ptr() as usize;
            &record[start..start + r.len()]
        });
        Some(Classification {
            rule: c.rule,
            reason,
        })
    }

    /// `classify` after the gate, on folded text.
    fn classify_text<'r>(&self, record: &'r [u8], declared: bool) -> Option<Classification<'r>> {
        // Which rules can match, can a code be there, and which other checks can hold: one
        // routing pass.
        let found = self.routing().find(record);
        if found.route() == 0 {
            return None;
        }
        if self.excluded(record, &found) {
            return None;
        }
        if !declared && self.evidence_in(record, &found).is_none() {
            return None;
        }
        let code = if found.route() & CODE_BIT != 0 {
            self.explicit_code(record, &found)
        } else {
            None
        };
        let rule = match code {
            Some(code) => self.by_code(code.as_bytes(), record, &found),
            None => self.by_patterns(record, &found),
        }?;
        Some(Classification {
            rule,
            reason: self.reason(record, &found),
        })
    }

    fn excluded(&self, record: &[u8], found: &Found) -> bool {
        self.exclusions
            .iter()
            .any(|x| x.sig.holds(&self.regexes, record, found))
    }

    /// The first evidence (file order) that holds for the record: its index.
    fn evidence_in(&self, record: &[u8], found: &Found) -> Option<usize> {
        let mut message: Option<bool> = None;
        for (i, e) in self.evidence.iter().enumerate() {
            if !e.sig.holds(&self.regexes, record, found) {
                continue;
            }
            if e.message_follows {
                if !self.message_follows(e, record, found) {
                    continue;
                }
            } else if e.needs_message
                && !*message.get_or_insert_with(|| self.has_message(record, found))
            {
                continue;
            }
            return Some(i);
        }
        None
    }

    /// Whether evidence `i` holds for the record (for checking the file's examples).
    fn evidence_holds(&self, i: usize, record: &[u8]) -> bool {
        let owned = folded(record);
        let record = &owned[..];
        let found = self.routing().find(record);
        let e = &self.evidence[i];
        e.sig.holds(&self.regexes, record, &found)
            && (!(e.message_follows || e.needs_message)
                || self.evidence_holds_message(e, record, &found))
    }

    /// A table rule's pattern matches inside the value that starts where one of `e`'s pattern
    /// matches ends: the value after the key carries one of the provider's messages
    /// (`reason="Invalid request : Redirect URI mismatch."`).
    fn message_follows(&self, e: &Evidence, record: &[u8], found: &Found) -> bool {
        let local = |idx: RuleIdx| rule_bit(idx - self.range.start);
        e.each.iter().any(|&id| {
            may_match(found, self.regexes.len(), id)
                && self.regexes[id as usize].find_iter(record).any(|m| {
                    self.matchers.iter().any(|(idx, rule)| {
                        found.route() & local(*idx) != 0
                            && rule
                                .find_at(&self.regexes, record, m.end(), found)
                                .is_some_and(|r| same_value(&record[m.end()..r.start()]))
                    })
                })
        })
    }

    /// The message check of evidence `e` (which asks for one: `message_follows` or
    /// `needs_message`) holds for the record.
    fn evidence_holds_message(&self, e: &Evidence, record: &[u8], found: &Found) -> bool {
        if e.message_follows {
            self.message_follows(e, record, found)
        } else {
            self.has_message(record, found)
        }
    }

    /// One of the table rules' patterns (not the catch-all's) matches: the record carries one
    /// of the provider's documented messages or a real variant of one.
    fn has_message(&self, record: &[u8], found: &Found) -> bool {
        let local = |idx: RuleIdx| rule_bit(idx - self.range.start);
        self.matchers.iter().any(|(idx, re)| {
            found.route() & local(*idx) != 0 && re.is_match(&self.regexes, record, found)
        })
    }

    /// Why `classify` returned what it did for this record, in words (not the hot path).
    fn explain(&self, record: &[u8], ctx: &MatchContext<'_>) -> String {
        let p = &self.provider;
        let Some(declared) = self.declared(ctx) else {
            return format!(
                "the source talks only to `{}`, not `{p}`",
                ctx.provider.unwrap_or_default()
            );
        };
        let owned = folded(record);
        let record = &owned[..];
        let found = self.routing().find(record);
        for x in &self.exclusions {
            if let Some(hit) = x.hit(&self.regexes, record, &found) {
                return format!(
                    "excluded by `{}` ({}): contains `{}`",
                    x.name,
                    x.about,
                    String::from_utf8_lossy(&hit[..hit.len().min(80)])
                );
            }
        }
        let why_counted = if declared {
            format!("the source is declared to talk only to `{p}`")
        } else {
            match self.evidence_in(record, &found) {
                Some(i) => {
                    let e = &self.evidence[i];
                    format!("`{p}` evidence `{}` ({})", e.name, e.about)
                }
                None => return self.explain_no_evidence(record, &found),
            }
        };
        match self.classify_text(record, declared) {
            Some(_) => format!("counted: {why_counted}"),
            None if found.route() == 0 => format!(
                "{why_counted}, but the record contains none of the `{p}` rules' words (the \
                 prefilter dismissed it)"
            ),
            None => format!(
                "{why_counted}, but no rule pattern matched it, not even the catch-all's \
                 token-endpoint patterns"
            ),
        }
    }

    /// Why no evidence held: the shapes seen but voided or missing their message, or none.
    fn explain_no_evidence(&self, record: &[u8], found: &Found) -> String {
        let p = &self.provider;
        let mut seen = Vec::new();
        for e in &self.evidence {
            if !e.sig.shown(&self.regexes, record, found) {
                continue;
            }
            if e.sig.voided(&self.regexes, record, found) {
                seen.push(format!(
                    "`{}` has the shape but is a known lookalike of it",
                    e.name
                ));
            } else if e.needs_message && !self.evidence_holds_message(e, record, found) {
                seen.push(format!(
                    "`{}` has the shape but carries none of `{p}`'s table messages",
                    e.name
                ));
            }
        }
        let mut why = format!(
            "no `{p}` evidence: the record neither names {p} nor has the shape of its responses"
        );
        if !seen.is_empty() {
            why.push_str(&format!(" ({})", seen.join("; ")));
        }
        why.push_str(&format!(
            "; use --provider {p} (or `provider = \"{p}\"` on the source) when a source talks \
             only to {p}"
        ));
        why
    }

    /// A record with an explicit code: the first rule with that code whose patterns match,
    /// else the first rule with that code; an unknown code goes to the catch-all.
    fn by_code(&self, code: &[u8], record: &[u8], found: &Found) -> Option<RuleIdx> {
        match self.by_code.iter().find(|(k, _)| k.as_slice() == code) {
            Some((_, rules)) => {
                if rules.len() > 1 {
                    for &idx in rules {
                        if self
                            .matcher(idx)
                            .is_some_and(|re| re.is_match(&self.regexes, record, found))
                        {
                            return Some(idx);
                        }
                    }
                }
                rules.first().copied()
            }
            None => self.catch_all.as_ref().map(|(idx, _)| *idx),
        }
    }

    fn matcher(&self, idx: RuleIdx) -> Option<&AnyOf> {
        self.matchers
            .iter()
            .find(|(i, _)| *i == idx)
            .map(|(_, re)| re)
    }

    /// The first rule (file order) whose patterns match, trying only the rules `route` says
    /// can match; the catch-all last.
    fn by_patterns(&self, record: &[u8], found: &Found) -> Option<RuleIdx> {
        let local = |idx: RuleIdx| rule_bit(idx - self.range.start);
        let route = found.route();
        for (idx, re) in &self.matchers {
            if route & local(*idx) != 0 && re.is_match(&self.regexes, record, found) {
                return Some(*idx);
            }
        }
        match &self.catch_all {
            Some((idx, re))
                if route & local(*idx) != 0 && re.is_match(&self.regexes, record, found) =>
            {
                Some(*idx)
            }
            _ => None,
        }
    }
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if first.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if last.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

impl RuleSet {
    /// Compile a rule file's text; `origin` names it in diagnostics. Patterns are validated
    /// now and compiled on first use; the file's examples are checked. The embedded file's
    /// text is trusted instead: the test suite compiles its patterns and checks its examples.
    pub fn from_toml(text: &str, origin: &str) -> Result<RuleSet, Diagnostics> {
        let spec = rulefile::parse(text, origin, RuleSet::mode_for(text, false))?;
        RuleSet::compile(vec![spec])
    }

    /// Load and compile rule files; every problem in every file is reported.
    pub fn load(paths: &[&Path]) -> Result<RuleSet, Diagnostics> {
        RuleSet::load_with(paths, false)
    }

    /// How to read a rule file's `text`: every pattern compiled when `strict`, else the
    /// embedded file's text trusted (see [`Compile::Trusted`]) and any other validated.
    fn mode_for(text: &str, strict: bool) -> Compile {
        if strict {
            Compile::Eager
        } else if text == EMBEDDED_ZOOM_RULES {
            Compile::Trusted
        } else {
            Compile::Lazy
        }
    }

    /// [`RuleSet::load_or_embedded`] as `oauthwatch check` needs it: every pattern compiled
    /// now, so that none can fail later, and the examples of every file checked, the
    /// embedded file's and an unchanged copy's included.
    pub fn load_or_embedded_strict(paths: &[std::path::PathBuf]) -> Result<RuleSet, Diagnostics> {
        RuleSet::on_compile_thread(|| {
            if paths.is_empty() {
                let spec = rulefile::parse(EMBEDDED_ZOOM_RULES, EMBEDDED_ORIGIN, Compile::Eager)?;
                RuleSet::compile(vec![spec])
            } else {
                let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
                RuleSet::load_with(&refs, true)
            }
        })
    }

    fn load_with(paths: &[&Path], strict: bool) -> Result<RuleSet, Diagnostics> {
        let mut diags = Diagnostics::default();
        let mut specs = Vec::new();
        for path in paths {
            let origin = path.display().to_string();
            match std::fs::read_to_string(path) {
                Ok(text) => match rulefile::parse(&text, &origin, RuleSet::mode_for(&text, strict))
                {
                    Ok(spec) => specs.push(spec),
                    Err(d) => diags.0.extend(d.0),
                },
                Err(e) => diags.push(Diagnostic::whole_file(
                    &origin,
                    format!("cannot read rule file: {e}"),
                )),
            }
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        RuleSet::compile(specs)
    }

    /// Load `paths`, or the embedded Zoom rules when `paths` is empty.
    ///
    /// On a thread of its own: compiling the patterns and checking the examples allocate
    /// several times what the compiled set keeps (regex builders, a search cache per regex),
    /// and what is freed in the main heap stays resident for the daemon's life (megabytes);
    /// a short-lived thread's malloc arena gives its top back and is reused by the next
    /// thread started.
    pub fn load_or_embedded(paths: &[std::path::PathBuf]) -> Result<RuleSet, Diagnostics> {
        RuleSet::on_compile_thread(|| RuleSet::load_or_embedded_here(paths))
    }

    /// Run `run` on a short-lived thread of its own (see [`RuleSet::load_or_embedded`]), or
    /// here if no thread can be started.
    fn on_compile_thread(
        run: impl Fn() -> Result<RuleSet, Diagnostics> + Send + Sync,
    ) -> Result<RuleSet, Diagnostics> {
        let run = &run;
        let spawned = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("rule-compile".into())
                .spawn_scoped(scope, run)
                .map(|h| h.join())
        });
        match spawned {
            Ok(Ok(set)) => set,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => run(),
        }
    }

    /// [`RuleSet::load_or_embedded`] on the calling thread.
    fn load_or_embedded_here(paths: &[std::path::PathBuf]) -> Result<RuleSet, Diagnostics> {
        if paths.is_empty() {
            RuleSet::from_toml(EMBEDDED_ZOOM_RULES, EMBEDDED_ORIGIN)
        } else {
            let refs: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
            RuleSet::load(&refs)
        }
    }

    /// Compile validated files into one set; reports ids duplicated across files and every
    /// example that does not classify as the file says.
    ///
    /// The examples of a file read as [`Compile::Trusted`] (the embedded file's text) are
    /// not checked: the test suite checks them, and checking them compiled nearly every
    /// pattern, which start-up exists to avoid.
    fn compile(files: Vec<FileSpec>) -> Result<RuleSet, Diagnostics> {
        let mut diags = Diagnostics::default();
        let mut set = RuleSet::default();
        for file in &files {
            for (ri, r) in file.rules.iter().enumerate() {
                if let Some(prev) = set.rules.iter().position(|x| x.id == r.id.value) {
                    diags.push(diag_at(
                        file,
                        r.id.offset,
                        format!("rules[{ri}].id"),
                        format!(
                            "duplicate rule id `{}` (already defined for provider `{}`)",
                            r.id.value, set.rules[prev].provider
                        ),
                    ));
                }
            }
            let base = set.rules.len();
            let hex = sha256_hex(file.text.as_bytes());
            for r in &file.rules {
                set.file_sha256.push(hex.clone());
                set.rules.push(Rule {
                    id: r.id.value.clone(),
                    provider: file.provider.clone(),
                    codes: r.codes.clone(),
                    message: r.message.clone(),
                    description: r.description.clone(),
                    severity: r.severity,
                    alert: r.alert,
                    summary: r.summary.clone(),
                    remediation: r.remediation.clone(),
                    catch_all: r.is_catch_all(),
                });
            }
            set.providers.push(ProviderMatcher::compile(file, base));
        }
        // Examples are checked against their own file's matcher, so that one file's examples
        // do not depend on which other files are loaded beside it.
        for (file, matcher) in files.iter().zip(&set.providers) {
            if file.mode == Compile::Trusted {
                continue;
            }
            for (i, e) in file.evidence.iter().enumerate() {
                for (ei, ex) in e.must_match.iter().enumerate() {
                    if !matcher.evidence_holds(i, ex.value.as_bytes()) {
                        diags.push(diag_at(
                            file,
                            ex.offset,
                            format!("evidence[{}].examples.match[{ei}]", e.name.value),
                            format!("example does not show evidence `{}`", e.name.value),
                        ));
                    }
                }
                for (ei, ex) in e.must_not_match.iter().enumerate() {
                    if matcher.evidence_holds(i, ex.value.as_bytes()) {
                        diags.push(diag_at(
                            file,
                            ex.offset,
                            format!("evidence[{}].examples.no_match[{ei}]", e.name.value),
                            format!("lookalike shows evidence `{}`", e.name.value),
                        ));
                    }
                }
            }
            let ctx = MatchContext::default();
            for (ri, r) in file.rules.iter().enumerate() {
                for (ei, ex) in r.must_match.iter().enumerate() {
                    let text = folded(ex.value.as_bytes());
                    let got = matcher
                        .classify(ex.value.as_bytes(), &text, &ctx)
                        .map(|c| c.rule);
                    if got != Some(matcher.range.start + ri) {
                        let got = got.map_or("no rule".to_string(), |i| {
                            format!("rule `{}`", set.rules[i].id)
                        });
                        diags.push(diag_at(
                            file,
                            ex.offset,
                            format!("rules[{ri}].examples.match[{ei}]"),
                            format!(
                                "example must classify as `{}` but classifies as {got}",
                                r.id.value
                            ),
                        ));
                    }
                }
                for (ei, ex) in r.must_not_match.iter().enumerate() {
                    let text = folded(ex.value.as_bytes());
                    if let Some(c) = matcher.classify(ex.value.as_bytes(), &text, &ctx) {
                        diags.push(diag_at(
                            file,
                            ex.offset,
                            format!("rules[{ri}].examples.no_match[{ei}]"),
                            format!(
                                "lookalike must not match any rule but classifies as `{}`",
                                set.rules[c.rule].id
                            ),
                        ));
                    }
                }
            }
        }
        // The checks compiled most patterns (each with a search cache, kept as long as the
        // regex); records are classified on other threads, and most patterns never meet one
        // on a given host. Forget them: what real records need compiles on first use.
        for (file, p) in files.iter().zip(&mut set.providers) {
            if file.mode != Compile::Eager {
                for re in &mut p.regexes {
                    re.reset();
                }
            }
        }
        diags.into_result(set)
    }

    /// The first offset in `data` where a gate literal is (see below): no record before the
    /// record holding it can match, so a caller holding many records back to back (a framed
    /// batch) skips them all in one pass instead of calling [`RuleSet::classify`] per record.
    /// The offset may lie anywhere inside a matching record, not only at its start or the
    /// start of a match (a declared source's gate searches for a word a pattern requires,
    /// such as `bad request`, which can sit after the pattern's first word). A hit may also
    /// straddle two records; the caller classifies the whole record holding the offset and
    /// searches again after that record's end.
    ///
    /// The literals: with no provider declared, each provider's evidence literals (`zoom`,
    /// `reason`, `errorcode`, `(4,7`…); with `ctx.provider` declared, that provider's rule and
    /// code-pattern literals. The gates take the raw data (see `prefilter::Gate::find`).
    pub fn next_candidate(&self, data: &[u8], ctx: &MatchContext<'_>) -> Option<usize> {
        self.providers
            .iter()
            .filter_map(|p| match ctx.provider {
                Some(name) if name == p.provider => Some(p.rule_gate()),
                Some(_) => None,
                None => Some(&p.provider_gate),
            })
            .filter_map(|g| g.find(data))
            .min()
    }

    /// Why `classify` gives what it gives for this record: which gate or rule decided. For
    /// the `classify` command's "why didn't this line match?"; not the hot path.
    pub fn explain(&self, record: &[u8], ctx: &MatchContext<'_>) -> String {
        if self.providers.is_empty() {
            return "the rule set has no matchers".to_string();
        }
        let mut why = Vec::new();
        for p in &self.providers {
            if p.classify(record, &folded(record), ctx).is_some() {
                return p.explain(record, ctx);
            }
            why.push(p.explain(record, ctx));
        }
        why.join("; ")
    }

    /// The providers the rule files describe (`zoom`), in load order.
    pub fn providers(&self) -> impl Iterator<Item = &str> + '_ {
        self.providers.iter().map(|p| p.provider.as_str())
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
        RuleSet::from_toml(EMBEDDED_ZOOM_RULES, EMBEDDED_ORIGIN)
            .expect("embedded rules are valid (checked by tests)")
    }

    /// The rules, in file order; a [`RuleIdx`] indexes this slice.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The SHA-256 (lower-case hex) of the rule file rule `idx` came from; empty for a set
    /// built by [`RuleSet::without_matchers`].
    pub fn rules_sha256(&self, idx: RuleIdx) -> &str {
        self.file_sha256.get(idx).map_or("", String::as_str)
    }

    /// Whether `paths` (the rule files this set was loaded from, in order) still hold the
    /// bytes it was compiled from: each file is read and hashed, nothing is compiled. An
    /// unreadable file, or one that declares no rule (it leaves no digest here), counts as
    /// changed. With no paths (the embedded rules) there is nothing on disk to compare.
    pub fn files_unchanged(&self, paths: &[std::path::PathBuf]) -> bool {
        if paths.is_empty() {
            return true;
        }
        let mut loaded: Vec<&str> = self.file_sha256.iter().map(String::as_str).collect();
        loaded.dedup();
        loaded.len() == paths.len()
            && paths
                .iter()
                .zip(loaded)
                .all(|(path, sha)| std::fs::read(path).is_ok_and(|bytes| sha256_hex(&bytes) == sha))
    }

    /// Index of the rule with this id.
    pub fn find(&self, id: &str) -> Option<RuleIdx> {
        self.rules.iter().position(|r| r.id == id)
    }

    /// The rule a record is an instance of, if any. Hot path: no allocation; a record that
    /// contains none of the prefilter literals is dismissed after one pass.
    pub fn classify<'r>(
        &self,
        record: &'r [u8],
        ctx: &MatchContext<'_>,
    ) -> Option<Classification<'r>> {
        if self.providers.is_empty() {
            return None;
        }
        FOLDED.with(|buf| {
            let mut text = buf.borrow_mut();
            prefilter::fold(record, &mut text);
            self.providers
                .iter()
                .find_map(|p| p.classify(record, &text, ctx))
        })
    }
}

#[cfg(test)]
impl RuleSet {
    /// How many patterns are compiled, of how many.
    fn compiled_patterns(&self) -> (usize, usize) {
        let all = self.providers.iter().flat_map(|p| &p.regexes);
        (all.clone().filter(|r| r.is_compiled()).count(), all.count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The daemon's load compiles no pattern: the embedded file's examples are left to the
    /// test above, and a user file's examples are checked and what they compiled dropped. A
    /// record compiles only the patterns it meets.
    #[test]
    fn patterns_compile_on_first_use_and_examples_leave_none_compiled() {
        let set = RuleSet::embedded();
        let (compiled, all) = set.compiled_patterns();
        assert_eq!(compiled, 0);
        assert!(all > 50, "{all}");
        let line = br#"zoom {"reason":"Invalid authorization code x","error":"invalid_grant"}"#;
        let c = set.classify(line, &MatchContext::default()).unwrap();
        assert_eq!(set.rules()[c.rule].id, "invalid_authorization_code");
        let (compiled, _) = set.compiled_patterns();
        assert!(compiled > 0 && compiled < all / 2, "{compiled} of {all}");

        // A copy of the embedded file on disk is trusted as the embedded text is; an edited
        // copy is a user's file: its examples are checked (a broken one is reported), and a
        // good one loads with nothing compiled.
        let edited = format!("{EMBEDDED_ZOOM_RULES}\n# local copy\n");
        assert_eq!(
            RuleSet::mode_for(EMBEDDED_ZOOM_RULES, false),
            Compile::Trusted
        );
        assert_eq!(RuleSet::mode_for(&edited, false), Compile::Lazy);
        assert_eq!(RuleSet::mode_for(EMBEDDED_ZOOM_RULES, true), Compile::Eager);
        let set = RuleSet::from_toml(&edited, "zoom.toml").unwrap();
        assert_eq!(set.compiled_patterns().0, 0);
        let broken = edited.replacen(
            "examples = { match = [",
            "examples = { match = ['request completed in 12 ms',",
            1,
        );
        assert_ne!(broken, edited);
        let err = RuleSet::from_toml(&broken, "zoom.toml").unwrap_err();
        assert!(
            err.to_string()
                .contains("examples.match[0]: example does not show evidence"),
            "{err}"
        );
        // The strict load (`oauthwatch check`) leaves every pattern compiled.
        let strict = RuleSet::load_or_embedded_strict(&[]).unwrap();
        let (compiled, all) = strict.compiled_patterns();
        assert_eq!(compiled, all);
    }

    /// The routing pass stays small (it is built in every daemon that sees a candidate):
    /// ~20 KB of tables, where an Aho-Corasick DFA over the rule literals alone took 177 KB.
    /// And it is exact: each check it decides agrees with searching.
    #[test]
    fn routing_is_small_and_agrees_with_searching_each_literal_list() {
        let set = RuleSet::embedded();
        let p = &set.providers[0];
        let routing = p.routing();
        assert!(
            routing.memory_usage() < 40 << 10,
            "{}",
            routing.memory_usage()
        );
        let records = [
            &br#"zoom {"reason":"Invalid authorization code x","error":"invalid_grant"}"#[..],
            b"POST https://zoom.us/oauth/token error_description=bad",
            b"zoom_api: googleapis.com said event_ts=1",
            b"nothing at all",
        ];
        for r in records {
            let text = folded(r);
            let found = routing.find(&text);
            for sig in p.signatures() {
                if let Some(ac) = &sig.literals {
                    let key = sig.key;
                    assert_eq!(found.get(key), Some(ac.get().is_match(&text)), "{key}");
                }
            }
        }
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn embedded_rules_compile_and_every_example_passes() {
        // The strict load compiles every pattern and checks every example (the daemon's load
        // skips both for the embedded file, on the strength of this test); an error lists
        // each failing one.
        let set = RuleSet::load_or_embedded_strict(&[])
            .unwrap_or_else(|d| panic!("embedded rules invalid:\n{d}"));
        assert_eq!(set.rules().len(), 20, "19 table rows plus the catch-all");
        for id in [
            "invalid_authorization_code",
            "token_revoked",
            "unclassified",
        ] {
            assert!(set.find(id).is_some(), "missing rule {id}");
        }
        let r = &set.rules()[set.find("invalid_authorization_code").unwrap()];
        assert_eq!(r.codes, vec!["4734"]);
        assert_eq!(
            set.rules()[set.find("token_revoked").unwrap()].codes,
            vec!["4741"]
        );
        let catch_all = &set.rules()[set.find("unclassified").unwrap()];
        assert!(catch_all.catch_all);
        assert_eq!(catch_all.code_label(), "unknown");
        assert_send_sync::<RuleSet>();
    }

    #[test]
    fn without_matchers_matches_nothing() {
        let rules = RuleSet::embedded().rules().to_vec();
        let set = RuleSet::without_matchers(rules);
        assert_eq!(set.rules().len(), 20);
        let line = br#"zoom {"reason":"Invalid authorization code x","error":"invalid_grant"}"#;
        assert!(set.classify(line, &MatchContext::default()).is_none());
    }

    #[test]
    fn reason_is_cut_at_the_closing_quote() {
        let set = RuleSet::embedded();
        let ctx = MatchContext::default();
        let c = set
            .classify(
                br#"zoom {"reason":"Invalid authorization code abc","error":"invalid_grant"}"#,
                &ctx,
            )
            .unwrap();
        assert_eq!(c.reason, Some(&b"Invalid authorization code abc"[..]));
        let c = set
            .classify(
                "zoom {'reason': 'Invalid Token!', 'error': 'invalid_grant’}".as_bytes(),
                &ctx,
            )
            .unwrap();
        assert_eq!(c.reason, Some(&b"Invalid Token!"[..]));
        let c = set
            .classify(
                br#"Zoom API error: invalid_request, reason: Invalid authorization code mk1Cq8"#,
                &ctx,
            )
            .unwrap();
        assert_eq!(c.reason, Some(&b"Invalid authorization code mk1Cq8"[..]));
    }

    /// The start-up check for edits made while the daemon loaded: the same bytes are
    /// unchanged, an edit or a missing file is a change, and nothing is compiled to tell.
    #[test]
    fn files_unchanged_compares_the_bytes_the_set_was_compiled_from() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zoom.toml");
        std::fs::write(&path, EMBEDDED_ZOOM_RULES).unwrap();
        let paths = vec![path.clone()];
        let set = RuleSet::load_or_embedded(&paths).unwrap();
        assert!(set.files_unchanged(&paths));
        assert!(
            !set.files_unchanged(&[path.clone(), path.clone()]),
            "one file more"
        );
        assert!(RuleSet::embedded().files_unchanged(&[]));
        std::fs::write(&path, format!("{EMBEDDED_ZOOM_RULES}\n# edited\n")).unwrap();
        assert!(!set.files_unchanged(&paths));
        std::fs::remove_file(&path).unwrap();
        assert!(!set.files_unchanged(&paths));
    }
}
