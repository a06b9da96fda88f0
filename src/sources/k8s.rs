//! Kubernetes identity from container log paths.
//!
//! The kubelet writes every container's log to
//! `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log` (rotated to
//! `<restart>.log.<timestamp>`, later gzipped) and links it as
//! `/var/log/containers/<pod>_<namespace>_<container>-<64 hex container id>.log`. Pod and
//! namespace names cannot contain `_`; container names can contain `-`, so the id is split off
//! from the right. The link name is cut to 255 bytes when the names are long (63-character
//! namespace and container names and a long pod name), so the target's path, which is never
//! cut, is preferred when there is one; it also carries the pod's UID, which tells a deleted
//! pod from its namesake.

use std::path::Path;

use super::K8sRef;

/// Parse a container log link name; `None` when the name does not have that shape (or was
/// cut to 255 bytes).
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

/// A log file under the kubelet's pod directory, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLog {
    /// Namespace, pod and container.
    pub k8s: K8sRef,
    /// The pod's UID (a new pod of the same name has another).
    pub uid: String,
}

/// Parse `…/pods/<namespace>_<pod>_<uid>/<container>/<n>.log[.<suffix>]`; `None` for any
/// other path.
pub fn parse_pod_log(path: &Path) -> Option<PodLog> {
    let name = path.file_name()?.to_str()?;
    let (n, _) = name.split_once(".log")?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let container_dir = path.parent()?;
    let container = container_dir.file_name()?.to_str()?;
    let pod_dir = container_dir.parent()?;
    if pod_dir.parent()?.file_name()? != "pods" {
        return None;
    }
    let mut parts = pod_dir.file_name()?.to_str()?.splitn(3, '_');
    let namespace = parts.next()?;
    let pod = parts.next()?;
    let uid = parts.next()?;
    if [namespace, pod, uid, container]
        .iter()
        .any(|p| p.is_empty() || p.contains('_'))
    {
        return None;
    }
    Some(PodLog {
        k8s: K8sRef {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            container: container.to_string(),
        },
        uid: uid.to_string(),
    })
}

/// The identity of a container log found at `link` (the path the globs matched) that resolves
/// to `target`: from the target's pod directory when it has the kubelet's layout, else from
/// the link's name.
pub fn identify(link: &Path, target: Option<&Path>) -> Option<K8sRef> {
    target
        .and_then(parse_pod_log)
        .map(|p| p.k8s)
        .or_else(|| parse_pod_log(link).map(|p| p.k8s))
        .or_else(|| parse(link))
}

/// The pod UID in a path under the kubelet's pod directory, if it is one.
pub fn pod_uid(path: &Path) -> Option<String> {
    parse_pod_log(path).map(|p| p.uid)
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

    #[test]
    fn pod_directory_paths_give_the_identity_and_uid() {
        let p = Path::new("/var/log/pods/shop_web-1_0b1c-uid/oauth-proxy/0.log");
        let want = K8sRef {
            namespace: "shop".into(),
            pod: "web-1".into(),
            container: "oauth-proxy".into(),
        };
        assert_eq!(parse_pod_log(p).unwrap().k8s, want);
        assert_eq!(pod_uid(p).as_deref(), Some("0b1c-uid"));
        let rotated =
            Path::new("/var/log/pods/shop_web-1_0b1c-uid/oauth-proxy/3.log.20260101-120000");
        assert_eq!(parse_pod_log(rotated).unwrap().k8s, want);
        let gz =
            Path::new("/var/log/pods/shop_web-1_0b1c-uid/oauth-proxy/3.log.20260101-120000.gz");
        assert_eq!(parse_pod_log(gz).unwrap().k8s, want);
        assert_eq!(parse_pod_log(Path::new("/var/log/app/x/0.log")), None);
        assert_eq!(parse_pod_log(Path::new("/var/log/pods/a_b/c/0.log")), None);
        assert_eq!(
            parse_pod_log(Path::new("/var/log/pods/a_b_c/d/app.log")),
            None
        );
    }

    #[test]
    fn names_cut_to_255_bytes_are_identified_from_the_target() {
        // The kubelet cuts `<pod>_<ns>_<container>-<id>` to 251 bytes, then adds `.log`.
        // The longest pod name whose directory (`<ns>_<pod>_<36-byte uid>`) fits in 255 bytes.
        let pod = "p".repeat(255 - 63 - 36 - 2);
        let ns = "n".repeat(63);
        let container = "c".repeat(63);
        let full = format!("{pod}_{ns}_{container}-{}", "ab".repeat(32));
        let link = format!("/var/log/containers/{}.log", &full[..251]);
        assert_eq!(parse(Path::new(&link)), None);
        let target = format!("/var/log/pods/{ns}_{pod}_0b1c-uid/{container}/0.log");
        assert_eq!(
            identify(Path::new(&link), Some(Path::new(&target))),
            Some(K8sRef {
                namespace: ns,
                pod,
                container
            })
        );
    }
}
