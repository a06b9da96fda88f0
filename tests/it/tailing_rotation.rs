//! Rotation on real files: rename-then-create, copytruncate, in-place truncation, delete and
//! recreate, symlinked paths (Kubernetes), a file deleted while open.

use std::io::Write;
use std::time::Duration;

use crate::support::sources::*;
use crate::support::{append, DEADLINE};
use oauthwatch::sources::{K8sRef, StartAt};

fn open_append(path: &std::path::Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

#[test]
fn rename_then_create_drains_the_old_file_before_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "app.log");
    let mut writer = open_append(&log);
    let glob = dir.path().join("app.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::End)],
        options(&dir.path().join("state")),
    );
    writer.write_all(b"old-1\nold-2\n").unwrap();
    run.wait_records(2);
    // Rotate: the writer keeps its handle (as loggers do until they reopen) and writes
    // twice more into the renamed file before switching.
    std::fs::rename(&log, p(dir.path(), "app.log.1")).unwrap();
    writer.write_all(b"old-3\nold-4\n").unwrap();
    let mut writer = {
        let mut w2 = open_append(&log);
        w2.write_all(b"new-1\n").unwrap();
        w2
    };
    writer.write_all(b"new-2\n").unwrap();
    let got = run.wait_records(6);
    let old: Vec<&String> = got.iter().filter(|l| l.starts_with("old")).collect();
    let new: Vec<&String> = got.iter().filter(|l| l.starts_with("new")).collect();
    assert_eq!(old, ["old-1", "old-2", "old-3", "old-4"]);
    assert_eq!(new, ["new-1", "new-2"]);
    run.wait_count(|c| Counts::get(&c.rotated), 1, "rotated");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(run.stop().len(), 6, "nothing delivered twice");
}

#[test]
fn copytruncate_restarts_at_zero_and_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "");
    let glob = dir.path().join("*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::End)],
        options(&dir.path().join("state")),
    );
    append(&log, &text_of(&lines("first", 0..5)));
    run.wait_records(5);
    std::fs::copy(&log, p(dir.path(), "app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    run.wait_count(|c| Counts::get(&c.truncated), 1, "truncated");
    append(&log, "after-1\nafter-2\n");
    let got = run.wait_records(7);
    assert_eq!(&got[5..], ["after-1", "after-2"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(run.stop().len(), 7);
}

#[test]
fn truncation_followed_by_a_longer_rewrite_restarts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "");
    let glob = dir.path().join("*.log");
    let mut opts = options(&dir.path().join("state"));
    // Whether we see the empty file (size below offset) or only the rewrite (the first
    // bytes no longer match the fingerprint), it is one truncation.
    opts.poll_interval = Duration::from_millis(300);
    let run = Running::start(vec![file_spec("app", &[&glob], StartAt::End)], opts);
    append(&log, "short-1\n");
    run.wait_records(1);
    // Truncate and rewrite more than was there, in one go: the size never looks smaller.
    std::fs::write(&log, "rewritten-1\nrewritten-2\n").unwrap();
    let got = run.wait_records(3);
    assert_eq!(got, ["short-1", "rewritten-1", "rewritten-2"]);
    assert_eq!(Counts::get(&run.counts.truncated), 1);
    run.stop();
}

#[test]
fn delete_then_recreate_reads_the_new_file_from_its_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "");
    let glob = dir.path().join("*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::End)],
        options(&dir.path().join("state")),
    );
    append(&log, "gen1-a\n");
    run.wait_records(1);
    std::fs::remove_file(&log).unwrap();
    append(&log, "gen2-a\ngen2-b\n");
    assert_eq!(run.wait_records(3), ["gen1-a", "gen2-a", "gen2-b"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(run.stop().len(), 3);
}

#[test]
fn kubernetes_symlinks_are_followed_through_rotation_of_their_target() {
    let dir = tempfile::tempdir().unwrap();
    let id = "ab".repeat(32);
    let pods = dir.path().join("pods/shop_web-1_uid/oauth");
    let containers = dir.path().join("containers");
    std::fs::create_dir_all(&pods).unwrap();
    std::fs::create_dir_all(&containers).unwrap();
    let target = pods.join("0.log");
    append(&target, "");
    let link = containers.join(format!("web-1_shop_oauth-{id}.log"));
    std::os::unix::fs::symlink(&target, &link).unwrap();

    let glob = containers.join("*.log");
    let mut spec = file_spec("k8s", &[&glob], StartAt::End);
    spec.kubernetes_metadata = true;
    let run = Running::start(vec![spec], options(&dir.path().join("state")));
    append(&target, "one\n");
    run.wait_records(1);
    // The kubelet rotates the target; the link keeps pointing at `0.log`.
    std::fs::rename(&target, pods.join("0.log.20260101")).unwrap();
    append(&target, "two\n");
    assert_eq!(run.wait_records(2), ["one", "two"]);
    let want = K8sRef {
        namespace: "shop".into(),
        pod: "web-1".into(),
        container: "oauth".into(),
    };
    for g in run.got.lock().unwrap().iter() {
        assert_eq!(g.k8s.as_ref(), Some(&want));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(run.stop().len(), 2);
}

fn deleted_handles_to(name: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter(|t| {
            let t = t.to_string_lossy();
            t.contains(name) && t.ends_with("(deleted)")
        })
        .count()
}

#[test]
fn a_file_deleted_while_open_is_read_to_its_end_then_closed_within_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let name = "deleted-while-open.log";
    let log = p(dir.path(), name);
    let mut writer = open_append(&log);
    let glob = dir.path().join("*.log");
    let mut opts = options(&dir.path().join("state"));
    opts.limits.rotated_file_grace = Duration::from_millis(500);
    let run = Running::start(vec![file_spec("app", &[&glob], StartAt::End)], opts);
    writer.write_all(b"a\n").unwrap();
    run.wait_records(1);
    std::fs::remove_file(&log).unwrap();
    writer.write_all(b"b\nc\n").unwrap();
    assert_eq!(run.wait_records(3), ["a", "b", "c"]);
    drop(writer);
    // Our handle goes once the grace has passed, freeing the disk space.
    let end = std::time::Instant::now() + DEADLINE;
    while deleted_handles_to(name) > 0 {
        assert!(
            std::time::Instant::now() < end,
            "deleted file still held open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    run.wait_watching(0);
    assert_eq!(run.stop(), ["a", "b", "c"]);
}

/// One generation of a log: the same first lines every time (longer than the 256 bytes the
/// fingerprint covers), then lines of its own.
fn generation(g: usize, own: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..5)
        .map(|i| format!("2026-12-01T10:00:00Z INFO app: starting worker pool, worker {i} of 5 ready, listening"))
        .collect();
    v.extend((0..own).map(|i| format!("2026-12-01T10:00:01Z ERROR auth: Zoom API error: invalid_client gen {g:02} line {i:02}")));
    v
}

#[test]
fn copytruncate_with_the_same_first_bytes_rewritten_past_the_offset_is_noticed() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "app.log");
    append(&log, "");
    let glob = dir.path().join("app.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::End)],
        options(&dir.path().join("state")),
    );
    let mut want: Vec<String> = Vec::new();
    let first = generation(0, 3);
    append(&log, &text_of(&first));
    want.extend(first);
    run.wait_records(want.len());
    // Rename rotation and copytruncate alternate; each new generation starts with the same
    // bytes and is longer than the last. The copytruncate case rewrites the file in place
    // from 0 without its size ever dropping below our offset: what the reader sees when the
    // writer passed the old offset before it looked.
    for g in 1..=6 {
        let lines = generation(g, 3 + g);
        let text = text_of(&lines);
        if g % 2 == 1 {
            std::fs::rename(&log, p(dir.path(), &format!("app.log.{g}"))).unwrap();
            append(&log, &text);
        } else {
            std::fs::copy(&log, p(dir.path(), &format!("app.log.{g}"))).unwrap();
            let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
            std::os::unix::fs::FileExt::write_all_at(&f, text.as_bytes(), 0).unwrap();
        }
        want.extend(lines);
        run.wait_records(want.len());
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(run.stop(), want);
}
