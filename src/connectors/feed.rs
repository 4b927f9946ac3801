//! RSS 2.0 / Atom / JSON Feed. (Being written.)

use super::*;

pub struct Feed;

impl Connector for Feed {
    fn platform(&self) -> Platform {
        Platform::Feed
    }

    fn auth(&self) -> Auth {
        Auth::None
    }

    fn fetch<'a>(
        &'a self,
        _ctx: &'a FetchContext<'a>,
        _cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async { Err(FetchError::Invalid("feed connector not written yet".into())) })
    }

    fn split(&self, _item: &ItemRef) -> anyhow::Result<Vec<RawPost>> {
        anyhow::bail!("feed connector not written yet")
    }

    fn normalize(&self, _raw: &RawPost) -> anyhow::Result<NewPost> {
        anyhow::bail!("feed connector not written yet")
    }
}
