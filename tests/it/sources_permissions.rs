//! Permission denied: logged, counted as `read_error(…, "permission_denied")`, retried, and
//! read once it clears, without losing lines written meanwhile.
//!
//! Tests run as root, and root ignores file modes (CAP_DAC_OVERRIDE). Capabilities are per
//! thread on Linux, so this test drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
//! *effective* set of its own thread before it builds the runtime; every thread the sources
//! start (runtime workers, the reader thread, the inotify thread) inherits that, so the mode
//! bits apply to them exactly as they do to an unprivileged user. As a non-root user the
//! capability call is a no-op and the mode bits apply anyway.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use crate::support::append;
use crate::support::sources::*;
use oauthwatch::sources::StartAt;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_DAC_READ_SEARCH: u32 = 2;

/// Drop the file-permission override capabilities from this thread's effective set.
fn drop_permission_overrides() {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data structs, as the kernel ABI defines.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) != 0 {
            return;
        }
        data[0].effective &= !((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH));
        assert_eq!(
            libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()),
            0,
            "capset"
        );
    }
}

#[test]
fn permission_denied_is_counted_retried_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = p(dir.path(), "locked.log");
    append(&log, "before-start\n");
    // The application's handle, opened before the file is locked.
    let mut writer = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o000)).unwrap();
    drop_permission_overrides();
    assert!(
        std::fs::File::open(&log).is_err(),
        "mode 000 must be unreadable for this thread"
    );

    let glob = dir.path().join("*.log");
    let run = Running::start(
        vec![file_spec("app", &[&glob], StartAt::End)],
        options(&dir.path().join("state")),
    );
    run.wait_count(
        |c| Counts::get(&c.permission_denied),
        1,
        "permission_denied",
    );
    writer.write_all(b"while-locked\n").unwrap();
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    writer.write_all(b"after-unlock\n").unwrap();
    assert_eq!(run.wait_records(2), ["while-locked", "after-unlock"]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(run.stop().len(), 2);
}
