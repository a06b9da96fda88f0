//! Both cores for one large file: split it at record boundaries, run the batch path on each
//! piece on its own thread, and hand the pieces' results back in input order, so the caller
//! tallies exactly what one thread would have.
//!
//! A split point is a line start chosen where a record most likely begins (after a line that
//! starts with a letter or digit, before another such line). That is checked, not assumed:
//! each piece but the last must leave its framer idle at its end (no open multi-line record,
//! no container piece, nothing held), which means the next piece, framed from scratch, gives
//! what one framer over the whole file gives. If a piece does not, the scan is not split
//! (`None`) and the caller runs it on one thread.
//!
//! `OAUTHWATCH_SCAN_THREADS=1` forces one thread (for benchmarks); unset, a file of at least
//! [`MIN_PARALLEL_BYTES`] is split across the available cores.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

use super::{BatchFramer, Counts, Found};
use crate::classifier::{MatchContext, RuleSet};
use crate::framing::{is_one_line_record, Format, FramingLimits};

/// Smaller files are scanned on one thread: splitting would cost more than it saves.
pub const MIN_PARALLEL_BYTES: u64 = 8 << 20;

/// The environment variable that sets the number of scan threads (`1`: one thread).
pub const THREADS_ENV: &str = "OAUTHWATCH_SCAN_THREADS";

/// How far past a nominal split point a record start is looked for.
const SPLIT_WINDOW: usize = 64 << 10;

/// Threads to scan one file of `size` bytes with: [`THREADS_ENV`] when set to a positive
/// number, else the available cores; 1 below [`MIN_PARALLEL_BYTES`].
pub fn threads_for(size: u64) -> usize {
    let set = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0);
    if size < MIN_PARALLEL_BYTES {
        return 1;
    }
    set.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A piece's tally and counts; line numbers in the tally are relative to the piece, so the
/// caller adds the lines of the pieces before it.
#[derive(Debug)]
pub struct Piece<T> {
    /// What the caller's `on_match` gathered.
    pub tally: T,
    /// Lines and records of the piece.
    pub counts: Counts,
}

/// Split points (line starts, strictly increasing, first 0) for `parts` pieces of `file`.
pub fn split_points(file: &mut File, size: u64, parts: usize) -> io::Result<Vec<u64>> {
    let mut points = vec![0u64];
    let mut window = vec![0u8; SPLIT_WINDOW];
    for k in 1..parts {
        let nominal = size * k as u64 / parts as u64;
        if nominal <= *points.last().unwrap_or(&0) {
            continue;
        }
        file.seek(SeekFrom::Start(nominal))?;
        let n = read_full(file, &mut window)?;
        if let Some(at) = record_start(&window[..n]) {
            let p = nominal + at as u64;
            if p < size {
                points.push(p);
            }
        }
    }
    Ok(points)
}

/// A line start in `w` (which starts anywhere in a line) where a record most likely begins:
/// the line before is a one-line record on its own ([`is_one_line_record`]) and the line
/// at it starts with a letter or digit (not indented, not a closing bracket, not blank). The
/// first line start when none looks so.
fn record_start(w: &[u8]) -> Option<usize> {
    let mut starts = memchr::memchr_iter(b'\n', w).map(|i| i + 1);
    let first = starts.next()?;
    let mut prev = first;
    for s in starts {
        let line = &w[prev..s - 1];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if w.get(s).is_some_and(u8::is_ascii_alphanumeric) && is_one_line_record(line) {
            return Some(s);
        }
        prev = s;
    }
    (first < w.len()).then_some(first)
}

fn read_full(file: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Frame and classify bytes `from..to` of `path` with a framer started there; `Ok(None)` when
/// `must_end_idle` and the framer was not idle at `to` (the split point is inside a record).
#[allow(clippy::too_many_arguments)]
fn scan_piece<T>(
    path: &Path,
    from: u64,
    to: u64,
    must_end_idle: bool,
    format: Format,
    rules: &RuleSet,
    ctx: &MatchContext<'_>,
    mut tally: T,
    on_match: &(impl Fn(&mut T, Found<'_>) + Sync),
) -> io::Result<Option<Piece<T>>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut reader = file.take(to - from);
    let mut batch = BatchFramer::new(format, FramingLimits::default()).starting_at(from, 0);
    let mut buf = vec![0u8; super::READ_BYTES];
    let mut counts = Counts::default();
    let mut add = |c: Counts| {
        counts.lines += c.lines;
        counts.records += c.records;
    };
    loop {
        let n = read_full(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        add(batch.push(&buf[..n], Instant::now(), rules, ctx, |m| {
            on_match(&mut tally, m)
        }));
    }
    if must_end_idle && !batch.is_idle() {
        return Ok(None);
    }
    add(batch.finish(rules, ctx, |m| on_match(&mut tally, m)));
    Ok(Some(Piece { tally, counts }))
}

/// What [`scan_piece`] gives for one piece.
type PieceResult<T> = io::Result<Option<Piece<T>>>;

/// Pieces per thread: a thread that finishes early takes the next piece, so one slow core
/// (another process on it, a stretch dense with failures) does not hold the others back.
const PIECES_PER_THREAD: usize = 4;

/// Scan `path` (`size` bytes, not compressed) on `threads` threads, in pieces of at least
/// [`MIN_PARALLEL_BYTES`] / 2 (up to [`PIECES_PER_THREAD`] per thread), each thread taking the
/// next piece when it is done with one. Each piece gets a tally from `new_tally` and
/// `on_match` for its matches (line numbers relative to the piece); the pieces come back in
/// input order. `Ok(None)`: a split point fell inside a record; scan on one thread instead.
#[allow(clippy::too_many_arguments)]
pub fn scan_file<T: Send>(
    path: &Path,
    size: u64,
    threads: usize,
    format: Format,
    rules: &RuleSet,
    ctx: &MatchContext<'_>,
    new_tally: impl Fn() -> T + Sync,
    on_match: impl Fn(&mut T, Found<'_>) + Sync,
) -> io::Result<Option<Vec<Piece<T>>>> {
    let threads = threads.max(1);
    let parts = (threads * PIECES_PER_THREAD)
        .min((size / (MIN_PARALLEL_BYTES / 2)).max(1) as usize)
        .max(threads);
    let mut file = File::open(path)?;
    let mut points = split_points(&mut file, size, parts)?;
    points.push(size);
    let pieces = points.len() - 1;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done: Vec<std::sync::Mutex<Option<PieceResult<T>>>> =
        (0..pieces).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.min(pieces) {
            s.spawn(|| loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= pieces {
                    break;
                }
                let r = scan_piece(
                    path,
                    points[k],
                    points[k + 1],
                    k + 1 < pieces,
                    format,
                    rules,
                    ctx,
                    new_tally(),
                    &on_match,
                );
                *done[k].lock().expect("a scan thread panicked") = Some(r);
            });
        }
    });
    let mut out = Vec::with_capacity(pieces);
    for d in done {
        let r = d
            .into_inner()
            .expect("a scan thread panicked")
            .expect("every piece is scanned");
        match r? {
            Some(p) => out.push(p),
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}
