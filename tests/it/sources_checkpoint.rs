//! Checkpoints on real files: crash re-count bounds, corrupt or unreadable checkpoint files,
//! failed writes.

use std::time::Duration;

use crate::support::sources::*;
use crate::support::{append, DEADLINE};
use oauthwatch::sources::StartAt;

fn checkpoint_offsets(state: &std::path::Path) -> Vec<u64> {
    let Ok(text) = std::fs::read(state.join("checkpoints-app.json")) else {
        return vec![];
    };
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap();
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["offset"].as_u64().unwrap())
        .collect()
}

#[test]
fn after_a_crash_only_lines_since_the_last_checkpoint_are_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = p(dir.path(), "app.log");
    append(&log, "");
    let glob = dir.path().join("*.log");
    let spec = file_spec("app", &[&glob], StartAt::End);

    // 1. Lines acknowledged and checkpointed, then a crash: nothing is read again.
    let run = Running::start(vec![spec.clone()], options(&state));
    append(&log, "a\nb\n");
    run.wait_records(2);
    let end = std::time::Instant::now() + DEADLINE;
    while checkpoint_offsets(&state) != [4] {
        assert!(
            std::time::Instant::now() < end,
            "checkpoint never reached 4"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(run.crash(), ["a", "b"]);

    // 2. With an interval of an hour, the first acknowledgement after start is still saved
    //    at once (a crash loop makes progress); later lines below the byte and record
    //    thresholds wait for the interval, and a crash reads exactly those again. This is the
    //    documented bound.
    let mut slow = options(&state);
    slow.checkpoint_interval = Duration::from_secs(3600);
    let run = Running::start(vec![spec.clone()], slow);
    append(&log, "c\nd\n");
    assert_eq!(run.wait_records(2), ["c", "d"]);
    let end = std::time::Instant::now() + DEADLINE;
    while checkpoint_offsets(&state) != [8] {
        assert!(
            std::time::Instant::now() < end,
            "first batch never checkpointed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    append(&log, "e\nf\n");
    assert_eq!(run.wait_records(4), ["c", "d", "e", "f"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(checkpoint_offsets(&state), [8]);
    run.crash();

    let run = Running::start(vec![spec], options(&state));
    assert_eq!(run.wait_records(2), ["e", "f"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(run.stop(), ["e", "f"]);
    assert_eq!(checkpoint_offsets(&state), [12]);
}

#[test]
fn a_catch_up_is_checkpointed_every_few_megabytes_not_only_every_interval() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = p(dir.path(), "app.log");
    // 3 MiB of lines already there; an interval of an hour.
    let line = format!("{}\n", "x".repeat(99));
    let n = 3 * oauthwatch::sources::CHECKPOINT_BYTES as usize / line.len();
    append(&log, &line.repeat(n));
    let glob = dir.path().join("*.log");
    let mut slow = options(&state);
    slow.checkpoint_interval = Duration::from_secs(3600);
    let run = Running::start(vec![file_spec("app", &[&glob], StartAt::Beginning)], slow);
    run.wait_records(n);
    // Saved while catching up: the last save is less than the threshold behind the end.
    let end = std::time::Instant::now() + DEADLINE;
    let total = (n * line.len()) as u64;
    loop {
        let saved = checkpoint_offsets(&state).first().copied().unwrap_or(0);
        if saved + oauthwatch::sources::CHECKPOINT_BYTES >= total {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "checkpoint stays at {saved} of {total}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(run.crash().len(), n);
}

#[test]
fn a_corrupt_checkpoint_is_set_aside_and_the_source_falls_back_to_its_start_position() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(
        state.join("checkpoints-app.json"),
        b"{\"version\": 1, \"fil",
    )
    .unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "x\ny\n");
    let glob = dir.path().join("*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::Beginning)],
        options(&state),
    );
    assert_eq!(run.wait_records(2), ["x", "y"]);
    run.stop();
    let names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("checkpoints-app.json.corrupt-")),
        "{names:?}"
    );
    assert_eq!(checkpoint_offsets(&state), [4]);
}

#[test]
fn an_unreadable_checkpoint_is_set_aside_too() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // A directory where the file should be: reading it fails (as root too).
    std::fs::create_dir_all(state.join("checkpoints-app.json")).unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "x\n");
    let glob = dir.path().join("*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::Beginning)],
        options(&state),
    );
    assert_eq!(run.wait_records(1), ["x"]);
    run.stop();
    assert_eq!(checkpoint_offsets(&state), [2]);
}

#[test]
fn a_failed_checkpoint_write_is_counted_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = p(dir.path(), "app.log");
    append(&log, "");
    let glob = dir.path().join("*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::End)],
        options(&state),
    );
    // Replace the state directory by a plain file: every write fails, as root too.
    std::fs::remove_dir_all(&state).unwrap();
    std::fs::write(&state, b"not a directory").unwrap();
    append(&log, "still-read\n");
    run.wait_count(
        |c| Counts::get(&c.checkpoint_write_failed),
        1,
        "checkpoint_write_failed",
    );
    assert_eq!(run.wait_records(1), ["still-read"]);
    run.crash();
}
