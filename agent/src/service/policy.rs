//! The policy set the service judges its rounds with: the collector's, once pulled (kept in
//! the state directory as `policy.json`), the built-in one before.

use std::sync::Arc;

use crate::error::Result;

/// The policy set an agent judges with locally, and where it came from.
#[derive(Clone)]
pub(super) struct LocalPolicy {
    /// The collector's ETag for it (`None`: the built-in set).
    pub(super) etag: Option<String>,
    /// Its files (name, text), as the collector sent them.
    pub(super) files: Vec<(String, String)>,
    pub(super) set: Arc<posture_policies::PolicySet>,
}

impl LocalPolicy {
    /// The set kept in `dir` (`policy.json`), else the built-in one.
    pub(super) fn load(dir: &std::path::Path) -> Result<LocalPolicy> {
        let kept = std::fs::read(dir.join("policy.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<(String, Vec<(String, String)>)>(&b).ok())
            .and_then(|(etag, files)| {
                let set = posture_policies::PolicySet::from_files(files.clone()).ok()?;
                Some(LocalPolicy {
                    etag: Some(etag),
                    files,
                    set: Arc::new(set),
                })
            });
        match kept {
            Some(k) => Ok(k),
            None => Ok(LocalPolicy {
                etag: None,
                files: Vec::new(),
                set: Arc::new(posture_policies::PolicySet::builtin()?),
            }),
        }
    }

    pub(super) fn save(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let text = serde_json::to_vec(&(self.etag.as_deref().unwrap_or_default(), &self.files))
            .map_err(std::io::Error::other)?;
        let partial = dir.join("policy.json.partial");
        std::fs::write(&partial, text)?;
        std::fs::rename(partial, dir.join("policy.json"))
    }
}
