//! What every page's frame needs: who is logged in, the CSRF token, banners.

use super::AppState;
use super::session::{Csrf, CurrentUser};
use crate::db;
use crate::db::users::User;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub struct Layout {
    pub user: Option<User>,
    pub csrf: String,
    pub banners: Vec<String>,
    pub version: &'static str,
}

impl Layout {
    pub fn anonymous(csrf: Csrf) -> Layout {
        Layout {
            user: None,
            csrf: csrf.0,
            banners: Vec::new(),
            version: VERSION,
        }
    }

    /// The frame of a logged-in page, with a banner for every platform in emergency mode.
    pub async fn for_user(state: &AppState, current: &CurrentUser) -> anyhow::Result<Layout> {
        let platforms = state.db.read(|c| Ok(db::platforms::all(c)?)).await?;
        let banners = platforms
            .iter()
            .filter_map(|p| match (&p.emergency_proposed, p.emergency, p.emergency_finished_at) {
                (_, true, Some(_)) => Some(format!(
                    "{} is in emergency export mode: everything reachable is saved; it keeps syncing hourly.",
                    p.name
                )),
                (_, true, None) => Some(format!(
                    "{} is in emergency export mode: Lifeboat is saving everything it can.",
                    p.name
                )),
                (Some(reason), false, _) => Some(format!(
                    "{} may be going away ({reason}): confirm emergency export.",
                    p.name
                )),
                _ => None,
            })
            .collect();
        Ok(Layout {
            user: Some(current.user.clone()),
            csrf: current.csrf.clone(),
            banners,
            version: VERSION,
        })
    }
}
