//! Sources on real files: start positions, files appearing after start, excludes, missing
//! directories, restarts from checkpoints, and stdin.

use crate::support::append;
use crate::support::sources::*;
use oauthwatch::sources::{SourceSpec, StartAt};

#[test]
fn start_at_end_skips_existing_content_and_reads_appended_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "old-1\nold-2\n");
    let glob = dir.path().join("*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::End)],
        options(&dir.path().join("state")),
    );
    append(&log, "new-1\nnew-2\n");
    assert_eq!(run.wait_records(2), ["new-1", "new-2"]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(run.stop(), ["new-1", "new-2"]);
}

#[test]
fn start_at_beginning_reads_existing_content() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "old-1\nold-2\n");
    let glob = dir.path().join("*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::Beginning)],
        options(&dir.path().join("state")),
    );
    assert_eq!(run.wait_records(2), ["old-1", "old-2"]);
    append(&log, "new-1\n");
    assert_eq!(run.wait_records(3), ["old-1", "old-2", "new-1"]);
    assert_eq!(run.stop().len(), 3);
}

#[test]
fn files_appearing_after_start_are_read_from_their_beginning_and_excludes_apply() {
    let dir = tempfile::tempdir().unwrap();
    let glob = dir.path().join("*.log");
    let mut spec = file_spec("app", &[&glob], StartAt::End);
    spec.exclude = vec![dir.path().join("skip*.log").display().to_string()];
    let run = Running::start(vec![spec], options(&dir.path().join("state")));
    // Written in one go before we can possibly have noticed the file.
    append(&p(dir.path(), "late.log"), "late-1\nlate-2\n");
    append(&p(dir.path(), "skip-me.log"), "skipped\n");
    append(&p(dir.path(), "late.txt"), "not matched\n");
    assert_eq!(run.wait_records(2), ["late-1", "late-2"]);
    append(&p(dir.path(), "late.log"), "late-3\n");
    run.wait_records(3);
    assert_eq!(run.stop(), ["late-1", "late-2", "late-3"]);
}

#[test]
fn a_directory_that_does_not_exist_yet_is_picked_up_when_created() {
    let dir = tempfile::tempdir().unwrap();
    let glob = dir.path().join("not/yet/*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::End)],
        options(&dir.path().join("state")),
    );
    std::fs::create_dir_all(dir.path().join("not/yet")).unwrap();
    append(&dir.path().join("not/yet/a.log"), "hello\n");
    assert_eq!(run.wait_records(1), ["hello"]);
    append(&dir.path().join("not/yet/a.log"), "again\n");
    run.wait_records(2);
    assert_eq!(run.stop(), ["hello", "again"]);
}

#[test]
fn graceful_restart_resumes_exactly_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let log = p(dir.path(), "app.log");
    append(&log, "before-start\n");
    let glob = dir.path().join("*.log");
    let spec = file_spec("app", &[&glob], StartAt::End);

    let run = Running::start(vec![spec.clone()], options(&state));
    append(&log, "one\ntwo\npart");
    run.wait_records(2);
    assert_eq!(run.stop(), ["one", "two"]);

    // Written while the daemon was down, including the end of the partial line.
    append(&log, "ial\nthree\n");
    append(&p(dir.path(), "new-while-down.log"), "fresh\n");
    let run = Running::start(vec![spec.clone()], options(&state));
    run.wait_records(3);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut got = run.stop();
    got.sort();
    assert_eq!(got, ["fresh", "partial", "three"]);

    // Nothing new: a third start delivers nothing.
    let run = Running::start(vec![spec], options(&state));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(run.stop(), Vec::<String>::new());
}

#[test]
fn stdin_is_read_to_its_end_including_a_last_line_without_newline() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SourceSpec {
        name: "stdin".into(),
        paths: vec![],
        exclude: vec![],
        format: oauthwatch::framing::Format::Plain,
        provider: None,
        start_at: StartAt::End,
        stdin: true,
        kubernetes_metadata: false,
    };
    let run = Running::start_with(
        vec![spec],
        options(&dir.path().join("state")),
        Default::default(),
        Some(b"a\r\nb\nc".to_vec()),
    );
    run.stdin_finished();
    assert_eq!(run.wait_records(3), ["a", "b", "c"]);
    assert_eq!(run.stop(), ["a", "b", "c"]);
    assert!(
        !dir.path().join("state").exists(),
        "stdin alone keeps no checkpoints"
    );
}

#[test]
fn file_events_wake_the_reader_without_any_polling() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "");
    let glob = dir.path().join("*.log");
    let mut opts = options(&dir.path().join("state"));
    // No poll within the test's lifetime: only inotify events can deliver these lines.
    opts.poll_interval = std::time::Duration::from_secs(3600);
    let run = Running::start(vec![file_spec("app", &[&glob], StartAt::End)], opts);
    for i in 0..5 {
        append(&log, &format!("event-{i}\n"));
        run.wait_records(i + 1);
    }
    append(&p(dir.path(), "second.log"), "created\n");
    run.wait_records(6);
    assert_eq!(
        run.stop(),
        ["event-0", "event-1", "event-2", "event-3", "event-4", "created"]
    );
}

#[test]
fn each_source_labels_its_own_records() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a")).unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    let ga = dir.path().join("a/*.log");
    let gb = dir.path().join("b/*.log");
    let run = Running::start(
        vec![
            file_spec("a", &[&ga], StartAt::End),
            file_spec("b", &[&gb], StartAt::End),
        ],
        options(&dir.path().join("state")),
    );
    append(&dir.path().join("a/x.log"), "from-a\n");
    append(&dir.path().join("b/x.log"), "from-b\n");
    run.wait_records(2);
    let mut got: Vec<(usize, String)> = run
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|g| (g.source, g.text.clone()))
        .collect();
    got.sort();
    assert_eq!(got, [(0, "from-a".to_string()), (1, "from-b".to_string())]);
    run.stop();
    assert!(dir.path().join("state/checkpoints-a.json").exists());
    assert!(dir.path().join("state/checkpoints-b.json").exists());
}

#[test]
fn the_poll_fallback_finds_writes_that_raise_no_event() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("watched")).unwrap();
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    let log = dir.path().join("watched/app.log");
    append(&log, "");
    // inotify reports a write under the name it was made through: writes through this hard
    // link in an unwatched directory raise no event for the watched one (like NFS, where
    // other clients' writes raise none at all).
    let link = dir.path().join("elsewhere/app.log");
    std::fs::hard_link(&log, &link).unwrap();
    let glob = dir.path().join("watched/*.log");
    let mut opts = options(&dir.path().join("state"));
    opts.poll_interval = std::time::Duration::from_millis(300);
    let run = Running::start(vec![file_spec("app", &[&glob], StartAt::End)], opts);
    append(&link, "polled-1\npolled-2\n");
    assert_eq!(run.wait_records(2), ["polled-1", "polled-2"]);
    assert_eq!(run.stop(), ["polled-1", "polled-2"]);
}

#[test]
fn a_symlink_found_after_start_has_its_target_watched_at_once() {
    // Kubernetes: a new pod's /var/log/containers/*.log link points into /var/log/pods/.
    let dir = tempfile::tempdir().unwrap();
    let containers = p(dir.path(), "containers");
    let pods = p(dir.path(), "pods");
    std::fs::create_dir_all(&containers).unwrap();
    std::fs::create_dir_all(&pods).unwrap();
    let mut opts = options(&dir.path().join("state"));
    // No poll within the test's lifetime: only inotify events can deliver these lines.
    opts.poll_interval = std::time::Duration::from_secs(3600);
    let glob = containers.join("*.log");
    let run = Running::start(vec![file_spec("c", &[&glob], StartAt::Beginning)], opts);
    let target = p(&pods, "0.log");
    append(&target, "");
    std::os::unix::fs::symlink(&target, p(&containers, "web_shop_app-1.log")).unwrap();
    append(&target, "first\n");
    run.wait_records(1);
    append(&target, "second\n");
    run.wait_records(2);
    assert_eq!(run.stop(), ["first", "second"]);
}
