//! Build identity for `oauthwatch_build_info{version,revision,rustc}`: the git revision of the
//! source tree and the compiler version. Packagers building outside git set
//! `OAUTHWATCH_BUILD_REVISION`; anything not found is `unknown`.

use std::process::Command;

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=OAUTHWATCH_BUILD_REVISION");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let revision = std::env::var("OAUTHWATCH_BUILD_REVISION")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| run("git", &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    // Rebuild when HEAD moves (a worktree's HEAD lives in its own git dir, refs in the common one).
    if let Some(dir) = run("git", &["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
    }
    if let Some(r) = run("git", &["rev-parse", "--symbolic-full-name", "HEAD"]) {
        if let Some(common) = run("git", &["rev-parse", "--git-common-dir"]) {
            // A missing path would make cargo rerun this script (and rebuild) every time.
            let loose = format!("{common}/{r}");
            let packed = format!("{common}/packed-refs");
            for path in [loose, packed] {
                if std::path::Path::new(&path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
        }
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    // `rustc 1.85.0 (4d91de4e4 2025-02-17)` -> `1.85.0`
    let rustc_version = run(&rustc, &["--version"])
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string());
    link_order(&rustc_version);
    println!("cargo:rustc-env=OAUTHWATCH_BUILD_REVISION={revision}");
    println!("cargo:rustc-env=OAUTHWATCH_BUILD_RUSTC={rustc_version}");
}

/// Release builds place the functions the daemon runs side by side (symbol-order.txt, written
/// by benches/symbol_order.py): the kernel maps code in 64 KiB windows around each page
/// touched, so scattered, they made nearly all of .text resident. The order is an option of
/// lld, the linker rustc uses by default for x86_64 Linux since 1.90; with another linker (an
/// older rustc, a configured `linker`, `-C linker-*` flags) the binary is linked as before.
/// Names the file has and the binary lacks (a stale file) are skipped without a warning.
fn link_order(rustc_version: &str) {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("PROFILE") != "release" || env("CARGO_CFG_TARGET_OS") != "linux" {
        return;
    }
    // 12,000 relative relocations as 24-byte RELA entries were 290 KiB that the dynamic
    // loader reads at every start (and that stay resident); packed (DT_RELR), 4 KiB. The
    // binary then needs glibc 2.36 at run time (Debian 12, the container's base): only when
    // building natively against one at least that new. lld and GNU ld 2.38+ both pack.
    if relr_supported() {
        println!("cargo:rustc-link-arg-bin=oauthwatch=-Wl,-z,pack-relative-relocs");
    }
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    if !order.exists() {
        return;
    }
    // Only for a path that exists: a missing one would rerun this script on every build.
    println!("cargo:rerun-if-changed=symbol-order.txt");
    let mut version = rustc_version
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let lld_by_default = env("TARGET") == "x86_64-unknown-linux-gnu"
        && (version.next().unwrap_or(0), version.next().unwrap_or(0)) >= (1, 90);
    let flags = env("CARGO_ENCODED_RUSTFLAGS");
    let linker_chosen = std::env::var_os("RUSTC_LINKER").is_some()
        || flags.contains("linker")
        || flags.contains("fuse-ld");
    if lld_by_default && !linker_chosen {
        println!(
            "cargo:rustc-link-arg-bin=oauthwatch=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=oauthwatch=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether this is a native glibc build against glibc 2.36 or later (DT_RELR support).
fn relr_supported() -> bool {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("CARGO_CFG_TARGET_ENV") != "gnu" || env("TARGET") != env("HOST") {
        return false;
    }
    // `glibc 2.36`
    let Some(version) = run("getconf", &["GNU_LIBC_VERSION"]) else {
        return false;
    };
    let mut parts = version
        .trim_start_matches("glibc ")
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}
