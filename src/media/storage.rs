//! Where avatars live: a local folder served under `/resource/`.

use std::path::{Component, Path, PathBuf};

use crate::error::ApiError;

#[derive(Clone, Debug)]
pub struct LocalStorage {
    root: PathBuf,
    public_base_url: String,
}

impl LocalStorage {
    pub fn new(root: PathBuf, public_base_url: String) -> std::io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        Ok(LocalStorage {
            root,
            public_base_url,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute URL of a stored key.
    pub fn url(&self, key: &str) -> String {
        format!("{}/resource/{}", self.public_base_url, key)
    }

    /// Keys are made here, never from client input: `avatar/<6 hex>/<user>_<utc time>.<ext>`.
    pub fn avatar_key(user_id: i64, extension: &str) -> String {
        let shard = hex::encode(rand::random::<[u8; 3]>());
        let stamp = chrono::Utc::now().format("%Y%m%d%H%M%S");
        format!("avatar/{shard}/{user_id}_{stamp}.{extension}")
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, ApiError> {
        let rel = Path::new(key);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(ApiError::internal("storage key escapes the root", key));
        }
        Ok(self.root.join(rel))
    }

    /// Writes atomically: a reader never sees half a file.
    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), ApiError> {
        let path = self.path_of(key)?;
        let dir = path
            .parent()
            .ok_or_else(|| ApiError::internal("storage key has no folder", key))?
            .to_owned();
        let tmp = dir.join(format!(".{}.tmp", hex::encode(rand::random::<[u8; 8]>())));
        let res = async {
            tokio::fs::create_dir_all(&dir).await?;
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = res {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(ApiError::internal("storing avatar failed", e));
        }
        Ok(())
    }

    pub async fn delete(&self, key: &str) {
        if let Ok(path) = self.path_of(key) {
            if let Err(e) = tokio::fs::remove_file(&path).await {
                tracing::warn!(error = %e, key, "could not delete old avatar");
            }
        }
    }
}
