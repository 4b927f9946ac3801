//! The platforms Lifeboat knows. One enum shared by connectors, importers, the health
//! monitor and the pages; the `platforms` table mirrors it (rows are upserted at start).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Feed,
    Twitter,
    Mastodon,
    Bluesky,
    Instagram,
    Facebook,
    Reddit,
    Youtube,
    Strava,
    Wordpress,
    Tumblr,
    Medium,
}

impl Platform {
    pub const ALL: [Platform; 12] = [
        Platform::Feed,
        Platform::Twitter,
        Platform::Mastodon,
        Platform::Bluesky,
        Platform::Instagram,
        Platform::Facebook,
        Platform::Reddit,
        Platform::Youtube,
        Platform::Strava,
        Platform::Wordpress,
        Platform::Tumblr,
        Platform::Medium,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Platform::Feed => "feed",
            Platform::Twitter => "twitter",
            Platform::Mastodon => "mastodon",
            Platform::Bluesky => "bluesky",
            Platform::Instagram => "instagram",
            Platform::Facebook => "facebook",
            Platform::Reddit => "reddit",
            Platform::Youtube => "youtube",
            Platform::Strava => "strava",
            Platform::Wordpress => "wordpress",
            Platform::Tumblr => "tumblr",
            Platform::Medium => "medium",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Platform::Feed => "RSS / Atom / JSON Feed",
            Platform::Twitter => "Twitter / X",
            Platform::Mastodon => "Mastodon",
            Platform::Bluesky => "Bluesky",
            Platform::Instagram => "Instagram",
            Platform::Facebook => "Facebook",
            Platform::Reddit => "Reddit",
            Platform::Youtube => "YouTube",
            Platform::Strava => "Strava",
            Platform::Wordpress => "WordPress",
            Platform::Tumblr => "Tumblr",
            Platform::Medium => "Medium",
        }
    }

    pub fn from_id(id: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.id() == id)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}
