//! Where a cluster's facts live in etcd.

/// The keys of one cluster (several clusters can share an etcd).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterKeys {
    prefix: String,
}

impl ClusterKeys {
    pub fn new(cluster: &str) -> Self {
        Self {
            prefix: format!("/floe/{cluster}/"),
        }
    }

    pub fn workers_prefix(&self) -> String {
        format!("{}workers/", self.prefix)
    }

    pub fn worker(&self, name: &str) -> String {
        format!("{}{name}", self.workers_prefix())
    }

    /// The worker name of a key under [`Self::workers_prefix`].
    pub fn worker_name<'a>(&self, key: &'a str) -> Option<&'a str> {
        key.strip_prefix(&self.workers_prefix())
            .filter(|n| !n.is_empty())
    }

    pub fn election(&self) -> String {
        format!("{}leader", self.prefix)
    }

    pub fn status(&self) -> String {
        format!("{}status", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_do_not_share_keys() {
        let a = ClusterKeys::new("a");
        let b = ClusterKeys::new("ab");
        assert_eq!(a.worker("w-0"), "/floe/a/workers/w-0");
        assert_eq!(a.worker_name("/floe/a/workers/w-0"), Some("w-0"));
        assert_eq!(a.worker_name(&b.worker("w-0")), None);
        assert_eq!(a.worker_name("/floe/a/workers/"), None);
        assert_ne!(a.election(), b.election());
    }
}
