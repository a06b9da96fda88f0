//! Kubernetes identity from container log file names.
//!
//! The kubelet links every container's log as
//! `/var/log/containers/<pod>_<namespace>_<container>-<64 hex container id>.log`. Pod and
//! namespace names cannot contain `_`; container names can contain `-`, so the id is split off
//! from the right.

use std::path::Path;

use super::K8sRef;

/// Parse a container log path; `None` when the name does not have that shape.
pub fn parse(path: &Path) -> Option<K8sRef> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".log")?;
    let (rest, id) = stem.rsplit_once('-')?;
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut parts = rest.splitn(3, '_');
    let pod = parts.next()?;
    let namespace = parts.next()?;
    let container = parts.next()?;
    if pod.is_empty() || namespace.is_empty() || container.is_empty() || container.contains('_') {
        return None;
    }
    Some(K8sRef {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        container: container.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubelet_names() {
        let id = "0123456789abcdef".repeat(4);
        let p = format!("/var/log/containers/web-7d9f-x2z_shop_oauth-proxy-{id}.log");
        assert_eq!(
            parse(Path::new(&p)),
            Some(K8sRef {
                namespace: "shop".into(),
                pod: "web-7d9f-x2z".into(),
                container: "oauth-proxy".into()
            })
        );
        assert_eq!(parse(Path::new("/var/log/containers/app.log")), None);
        assert_eq!(parse(Path::new("/x/a_b_c-123.log")), None);
        assert_eq!(parse(Path::new(&format!("/x/a_b-{id}.log"))), None);
    }
}
