//! A node laid out the way the kubelet does it, under a temp dir: container logs in
//! `pods/<ns>_<pod>_<uid>/<container>/<restart>.log` in CRI format, linked from
//! `containers/<pod>_<ns>_<container>-<id>.log` (cut to 255 bytes for long names), rotated by
//! rename to `<restart>.log.<timestamp>` with the runtime writing one more batch into the
//! renamed file, older rotated files gzipped, container restarts replacing the link, pod
//! deletions. The sources run in process with a consumer that acknowledges every batch, and
//! are stopped gracefully and restarted while all of this happens; every line must come out
//! exactly once with exactly its pod's identity.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::sources::*;
use oauthwatch::framing::Format;
use oauthwatch::sources::{K8sRef, SourceSpec, StartAt};

/// The node's two log directories.
struct Node {
    containers: PathBuf,
    pods: PathBuf,
    /// Rotation timestamps handed out so far.
    stamps: u32,
}

/// One running container as the kubelet and the runtime see it.
struct Ctr {
    k8s: K8sRef,
    uid: String,
    restart: u32,
    link: PathBuf,
    log: PathBuf,
    writer: std::fs::File,
    lines: u32,
}

fn open_append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Expected records: (identity, text) → how many times.
type Expected = BTreeMap<(String, String, String, String), u32>;

fn key(k8s: &K8sRef, text: &str) -> (String, String, String, String) {
    (
        k8s.namespace.clone(),
        k8s.pod.clone(),
        k8s.container.clone(),
        text.to_string(),
    )
}

impl Node {
    fn new(root: &Path) -> Node {
        let node = Node {
            containers: root.join("var/log/containers"),
            pods: root.join("var/log/pods"),
            stamps: 0,
        };
        std::fs::create_dir_all(&node.containers).unwrap();
        std::fs::create_dir_all(&node.pods).unwrap();
        node
    }

    fn pod_dir(&self, c: &Ctr) -> PathBuf {
        self.pods
            .join(format!("{}_{}_{}", c.k8s.namespace, c.k8s.pod, c.uid))
    }

    /// The kubelet's link name: `<pod>_<ns>_<container>-<id>`, cut to 251 bytes, `.log`.
    fn link_for(&self, k8s: &K8sRef, restart: u32) -> PathBuf {
        let seed = format!("{}{}{}{restart}", k8s.namespace, k8s.pod, k8s.container);
        let h = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let id = format!("{h:016x}").repeat(4);
        let mut name = format!("{}_{}_{}-{id}", k8s.pod, k8s.namespace, k8s.container);
        name.truncate(251);
        self.containers.join(format!("{name}.log"))
    }

    /// A container starts: its log file and its link.
    fn start(&self, ns: &str, pod: &str, uid: &str, container: &str) -> Ctr {
        let k8s = K8sRef {
            namespace: ns.into(),
            pod: pod.into(),
            container: container.into(),
        };
        let mut c = Ctr {
            link: self.link_for(&k8s, 0),
            k8s,
            uid: uid.into(),
            restart: 0,
            log: PathBuf::new(),
            writer: tempfile::tempfile().unwrap(),
            lines: 0,
        };
        let dir = self.pod_dir(&c).join(container);
        std::fs::create_dir_all(&dir).unwrap();
        c.log = dir.join("0.log");
        c.writer = open_append(&c.log);
        symlink(&c.log, &c.link).unwrap();
        c
    }

    /// The runtime writes `n` failure lines for `c` (through `writer`, or its current log).
    fn write_to(c: &mut Ctr, writer: Option<&mut std::fs::File>, n: u32, exp: &mut Expected) {
        let mut text = String::new();
        for _ in 0..n {
            c.lines += 1;
            let msg = format!(
                "Zoom API error: invalid_client {}/{} line {}",
                c.k8s.namespace.len(),
                c.k8s.pod.chars().take(12).collect::<String>(),
                c.lines
            );
            text.push_str(&format!(
                "2026-12-01T10:00:00.{:09}Z stderr F {msg}\n",
                c.lines
            ));
            *exp.entry(key(&c.k8s, &msg)).or_default() += 1;
        }
        writer
            .unwrap_or(&mut c.writer)
            .write_all(text.as_bytes())
            .unwrap();
    }

    /// The runtime writes one long failure line in `P` pieces through `writer` and returns
    /// the `F` end, for the next file.
    fn write_split(c: &mut Ctr, writer: &mut std::fs::File, exp: &mut Expected) -> String {
        c.lines += 1;
        let msg = format!(
            "Zoom API error: invalid_client {}/{} split line {}",
            c.k8s.namespace.len(),
            c.k8s.pod.chars().take(12).collect::<String>(),
            c.lines
        );
        *exp.entry(key(&c.k8s, &msg)).or_default() += 1;
        let (a, rest) = msg.split_at(10);
        let (b, end) = rest.split_at(12);
        let ts = "2026-12-01T10:00:00.500000000Z stderr";
        writer
            .write_all(format!("{ts} P {a}\n{ts} P {b}\n").as_bytes())
            .unwrap();
        format!("{ts} F {end}\n")
    }

    fn write(c: &mut Ctr, n: u32, exp: &mut Expected) {
        Node::write_to(c, None, n, exp)
    }

    /// The kubelet rotates: rename to `<n>.log.<timestamp>`, ask the runtime to reopen. The
    /// runtime still has the old file open: it is returned, for the late batch.
    fn rotate(&mut self, c: &mut Ctr) -> (PathBuf, std::fs::File) {
        self.stamps += 1;
        let rotated = c
            .log
            .with_file_name(format!("{}.log.20261201-1000{:02}", c.restart, self.stamps));
        std::fs::rename(&c.log, &rotated).unwrap();
        let old = std::mem::replace(&mut c.writer, open_append(&c.log));
        (rotated, old)
    }

    /// The kubelet compresses an older rotated file and removes the original.
    fn gzip(path: &Path) {
        let data = std::fs::read(path).unwrap();
        std::fs::write(
            format!("{}.gz", path.display()),
            crate::support::gzip(&data),
        )
        .unwrap();
        std::fs::remove_file(path).unwrap();
    }

    /// The container restarts: a new log file and a new link; the old link goes.
    fn restart(&self, c: &mut Ctr) {
        std::fs::remove_file(&c.link).unwrap();
        c.restart += 1;
        c.link = self.link_for(&c.k8s, c.restart);
        c.log = c.log.with_file_name(format!("{}.log", c.restart));
        c.writer = open_append(&c.log);
        symlink(&c.log, &c.link).unwrap();
    }

    /// The pod is deleted: its link and its whole log directory.
    fn delete(&self, c: Ctr) {
        std::fs::remove_file(&c.link).unwrap();
        std::fs::remove_dir_all(self.pod_dir(&c)).unwrap();
    }
}

fn spec(node: &Node) -> SourceSpec {
    let glob = node.containers.join("*.log");
    let mut s = file_spec("containers", &[&glob], StartAt::End);
    s.format = Format::Cri;
    s.kubernetes_metadata = true;
    s
}

/// What a run delivered, counted like `Expected`.
fn delivered(got_by_run: &std::sync::Mutex<Vec<Got>>) -> Expected {
    let mut got = Expected::new();
    for g in got_by_run.lock().unwrap().iter() {
        let none = K8sRef {
            namespace: "<no pod identity>".into(),
            pod: String::new(),
            container: String::new(),
        };
        *got.entry(key(g.k8s.as_ref().unwrap_or(&none), &g.text))
            .or_default() += 1;
    }
    got
}

fn total(e: &Expected) -> usize {
    e.values().map(|&n| n as usize).sum()
}

fn merge(into: &mut Expected, from: Expected) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

#[test]
fn a_graceful_restart_through_kubelet_rotation_restarts_and_deletions_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(tmp.path());
    let state = tmp.path().join("state");
    let mut exp = Expected::new();

    // Four containers before the agent starts (their history is skipped: start_at = end).
    let mut a = node.start("shop", "web-a", "uid-aaaa", "app");
    let mut b = node.start("shop", "web-b", "uid-bbbb", "app");
    let mut c = node.start("pay", "api-c", "uid-cccc", "proxy");
    // Kubernetes' longest names: the link name is cut to 255 bytes.
    let (long_ns, long_ctr) = ("n".repeat(63), "c".repeat(63));
    let long_pod = "p".repeat(255 - 63 - 36 - 2);
    let long_uid = "0b1c2d3e-aaaa-bbbb-cccc-000000000001";
    let mut l = node.start(&long_ns, &long_pod, long_uid, &long_ctr);
    assert!(l.link.file_name().unwrap().len() == 255);
    for x in [&mut a, &mut b, &mut c, &mut l] {
        Node::write(x, 2, &mut Expected::new()); // before start: not expected
    }

    // 1. While the agent runs.
    let run = Running::start(vec![spec(&node)], options(&state));
    run.wait_watching(4);
    for x in [&mut a, &mut b, &mut c, &mut l] {
        Node::write(x, 5, &mut exp);
    }
    run.wait_records(total(&exp));
    // Rotation of A, with the runtime's late batch into the renamed file.
    let (a_rotated_1, mut a_late) = node.rotate(&mut a);
    Node::write_to(&mut a, Some(&mut a_late), 2, &mut exp);
    drop(a_late);
    Node::write(&mut a, 3, &mut exp);
    // A pod is deleted after its lines were read.
    let mut e = node.start("shop", "web-e", "uid-eeee", "app");
    run.wait_watching(5);
    Node::write(&mut e, 3, &mut exp);
    run.wait_records(total(&exp));
    node.delete(e);
    // B's container restarts.
    Node::write(&mut b, 1, &mut exp);
    node.restart(&mut b);
    Node::write(&mut b, 4, &mut exp);
    run.wait_records(total(&exp));
    std::thread::sleep(Duration::from_millis(200));
    let got1 = run.got.clone();
    run.stop();
    let mut got = delivered(&got1);
    check(&got, &exp, "while running");

    // 2. While the agent is down.
    // A: more lines, then rotation (with a late batch), then lines in the new file; the
    //    first rotated file is gzipped.
    //    The rotation comes in the middle of a long line: its `P` pieces are in the renamed
    //    file, its `F` end in the new one.
    Node::write(&mut a, 7, &mut exp);
    let (_a_rotated_2, mut a_late) = node.rotate(&mut a);
    Node::write_to(&mut a, Some(&mut a_late), 1, &mut exp);
    let end = Node::write_split(&mut a, &mut a_late, &mut exp);
    drop(a_late);
    a.writer.write_all(end.as_bytes()).unwrap();
    Node::write(&mut a, 3, &mut exp);
    Node::gzip(&a_rotated_1);
    // B: more lines, then its container restarts again.
    Node::write(&mut b, 2, &mut exp);
    node.restart(&mut b);
    Node::write(&mut b, 3, &mut exp);
    // C: lines, then the pod is deleted: those lines are gone with it (not expected).
    Node::write(&mut c, 2, &mut Expected::new());
    node.delete(c);
    // L: lines in place.
    Node::write(&mut l, 3, &mut exp);
    // D: a pod created while the agent was down is read from its beginning.
    let mut d = node.start("shop", "web-d", "uid-dddd", "app");
    Node::write(&mut d, 4, &mut exp);

    // 3. Restart: everything written while down comes out once, with its pod's identity.
    let run = Running::start(vec![spec(&node)], options(&state));
    let missing = total(&exp) - total(&got);
    run.wait_records(missing);
    // And nothing more (a rotated file read twice, a reused inode read again).
    std::thread::sleep(Duration::from_millis(500));
    Node::write(&mut d, 1, &mut exp);
    Node::write(&mut l, 1, &mut exp);
    run.wait_records(missing + 2);
    std::thread::sleep(Duration::from_millis(300));
    let got2 = run.got.clone();
    run.stop();
    merge(&mut got, delivered(&got2));
    check(&got, &exp, "after the restart");
}

/// Every expected record delivered as often as expected, with its identity, and no other.
fn check(got: &Expected, exp: &Expected, when: &str) {
    let diff: Vec<_> = exp
        .iter()
        .filter(|(k, n)| got.get(*k) != Some(n))
        .map(|(k, n)| (k.clone(), *n, got.get(k).copied().unwrap_or(0)))
        .chain(
            got.iter()
                .filter(|(k, _)| !exp.contains_key(*k))
                .map(|(k, n)| (k.clone(), 0, *n)),
        )
        .collect();
    assert!(
        diff.is_empty(),
        "{when}: (identity, text), expected, delivered: {diff:#?}"
    );
    assert_eq!(total(got), total(exp));
}

fn inode(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).unwrap().ino()
}

#[test]
fn a_new_pod_reusing_a_deleted_pods_inode_gets_its_own_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let node = Node::new(tmp.path());
    let state = tmp.path().join("state");
    let mut exp = Expected::new();
    let mut busy = node.start("shop", "busy", "uid-0000", "app");
    let mut old = node.start("shop", "old", "uid-1111", "app");
    let mut opts = options(&state);
    // Fewer handles than files: the quiet file's handle is closed, so its inode can be
    // reused once it is deleted (an open handle would pin it).
    opts.limits.max_open_files = 1;
    let run = Running::start(vec![spec(&node)], opts);
    run.wait_watching(2);
    Node::write(&mut old, 3, &mut exp);
    run.wait_records(3);
    Node::write(&mut busy, 1, &mut exp);
    run.wait_records(4);

    // The old pod is deleted; a new pod's log takes its inode (ext4 and xfs hand a freed
    // inode out again at once).
    let old_ino = inode(&old.log);
    node.delete(old);
    let mut new = node.start("shop", "new", "uid-2222", "app");
    if inode(&new.log) != old_ino {
        eprintln!("the temp dir's filesystem did not reuse the inode; nothing to check");
        run.stop();
        return;
    }
    Node::write(&mut new, 3, &mut exp);
    run.wait_records(7);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(Counts::get(&run.counts.truncated), 0, "not a truncation");
    let got1 = run.got.clone();
    run.stop();
    let mut got = delivered(&got1);
    check(&got, &exp, "while running");

    // Again while the agent is down: the checkpoint's entry for that inode belongs to the
    // deleted pod, the file now holding it is read from its beginning as the new pod's.
    let new_ino = inode(&new.log);
    node.delete(new);
    let mut newer = node.start("shop", "newer", "uid-3333", "app");
    Node::write(&mut newer, 2, &mut exp);
    let reused = inode(&newer.log) == new_ino;
    let run = Running::start(vec![spec(&node)], options(&state));
    run.wait_records(2);
    std::thread::sleep(Duration::from_millis(500));
    let got2 = run.got.clone();
    run.stop();
    merge(&mut got, delivered(&got2));
    check(
        &got,
        &exp,
        &format!("after the restart (inode reused: {reused})"),
    );
}

#[test]
fn a_line_split_across_a_rotation_comes_out_whole_once() {
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(tmp.path());
    let mut c = node.start("shop", "web-a", "uid-aaaa", "app");
    let run = Running::start(vec![spec(&node)], options(&tmp.path().join("state")));
    run.wait_watching(1);
    // The runtime writes a long line in pieces; the kubelet rotates between them, and the
    // runtime writes the last piece into the new file.
    c.writer
        .write_all(
            b"2026-12-01T10:00:00.000000001Z stderr F before\n\
              2026-12-01T10:00:00.000000002Z stderr P Zoom API error: invalid_req\n\
              2026-12-01T10:00:00.000000002Z stderr P uest, reason: Invalid authoriz\n",
        )
        .unwrap();
    run.wait_records(1);
    let (_rotated, old) = node.rotate(&mut c);
    drop(old);
    c.writer
        .write_all(
            b"2026-12-01T10:00:00.000000002Z stderr F ation code xyz\n\
              2026-12-01T10:00:00.000000003Z stderr F after\n",
        )
        .unwrap();
    let got = run.wait_records(3);
    assert_eq!(
        got,
        [
            "before",
            "Zoom API error: invalid_request, reason: Invalid authorization code xyz",
            "after"
        ]
    );
    // Past the rotated file's grace (2 s here) nothing more comes out of it.
    std::thread::sleep(Duration::from_millis(2_500));
    let got1 = run.got.clone();
    assert_eq!(run.stop().len(), 3);
    for g in got1.lock().unwrap().iter() {
        assert_eq!(g.k8s.as_ref(), Some(&c.k8s));
    }
}
