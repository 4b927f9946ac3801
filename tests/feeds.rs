//! Feeds end to end: the real binary syncs real-shaped feeds (WordPress, Medium, YouTube,
//! Mastodon, JSON Feed and odd ones) from a fake web server started inside each test, and
//! everything is checked the way a person or a script would see it: the CLI's summary line,
//! the JSON API, the pages, `lifeboat verify` and `lifeboat reprocess`.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::site::{Route, Site};
use common::{Api, Server, add_user, api_key, cli, cli_ok, png, wait_with_timeout};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

const ALICE_PASSWORD: &str = "correct horse battery";
const BOB_PASSWORD: &str = "another long password";

// ---- generated files ------------------------------------------------------------------------

/// A few bytes that start like an MP3 (ID3 tag).
fn mp3() -> Vec<u8> {
    let mut bytes = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    bytes.extend((0..4086u32).map(|i| (i * 7 % 251) as u8));
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

// ---- the documents, shaped like the real ones ---------------------------------------------

const WP_ETAG: &str = "\"wp-5f3c-1\"";
const WP_MODIFIED: &str = "Tue, 16 Jan 2024 08:12:45 GMT";

fn wordpress_rss(base: &str, edited: bool) -> String {
    let new_item = if edited {
        format!(
            r#"
	<item>
		<title>Garlic goes in</title>
		<link>{base}/blog/2024/01/17/garlic/</link>
		<dc:creator><![CDATA[Ada Gardener]]></dc:creator>
		<pubDate>Wed, 17 Jan 2024 07:00:00 +0000</pubDate>
		<category><![CDATA[Garden]]></category>
		<guid isPermaLink="false">{base}/blog/?p=1240</guid>
		<description><![CDATA[Cloves in, straw on top.]]></description>
		<content:encoded><![CDATA[<p>Cloves in, straw on top.</p><p><img src="/blog/wp-content/uploads/2024/01/garlic.png" alt="Garlic bed" width="800" height="600"></p>]]></content:encoded>
	</item>"#
        )
    } else {
        String::new()
    };
    let catalogue = if edited {
        "Catalogues came in. I ordered far too much &#8211; again."
    } else {
        "Catalogues arrived. I ordered too much."
    };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"
	xmlns:content="http://purl.org/rss/1.0/modules/content/"
	xmlns:wfw="http://wellformedweb.org/CommentAPI/"
	xmlns:dc="http://purl.org/dc/elements/1.1/"
	xmlns:atom="http://www.w3.org/2005/Atom"
	xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"
	xmlns:slash="http://purl.org/rss/1.0/modules/slash/"
	>

<channel>
	<title>Field Notes</title>
	<atom:link href="{base}/blog/feed/" rel="self" type="application/rss+xml" />
	<link>{base}/blog</link>
	<description>Notes from the allotment</description>
	<lastBuildDate>Tue, 16 Jan 2024 08:12:45 +0000</lastBuildDate>
	<language>en-GB</language>
	<sy:updatePeriod>
	hourly	</sy:updatePeriod>
	<sy:updateFrequency>
	1	</sy:updateFrequency>
	<generator>https://wordpress.org/?v=6.4.2</generator>{new_item}
	<item>
		<title>Tomatoes &#038; the first frost&#8217;s lesson</title>
		<link>{base}/blog/2024/01/15/tomatoes-first-frost/</link>
		<comments>{base}/blog/2024/01/15/tomatoes-first-frost/#respond</comments>
		<dc:creator><![CDATA[Ada Gardener]]></dc:creator>
		<pubDate>Mon, 15 Jan 2024 09:30:00 +0000</pubDate>
				<category><![CDATA[Garden]]></category>
		<category><![CDATA[Tomatoes]]></category>
		<guid isPermaLink="false">{base}/blog/?p=1234</guid>

					<description><![CDATA[The frost came early this year &#8230; and the tomatoes knew. [&#8230;]]]></description>
										<content:encoded><![CDATA[<p>The frost came early this year &amp; the tomatoes knew it&#8217;s over.</p>
<figure class="wp-block-image size-large"><img decoding="async" width="1024" height="768" src="{base}/blog/wp-content/uploads/2024/01/frost-1024x768.png" alt="Frost on leaves" class="wp-image-1235" srcset="{base}/blog/wp-content/uploads/2024/01/frost-1024x768.png 1024w, {base}/blog/wp-content/uploads/2024/01/frost-300x225.png 300w" sizes="(max-width: 1024px) 100vw, 1024px" /></figure>
<p>Next year: <strong>cloches</strong> &gt; hope.</p>
<p><img src="/blog/wp-content/uploads/2024/01/cloche.png" alt=""></p>
<img alt="" border="0" src="{base}/pixel/b.gif?host=fieldnotes&#038;blog=1&#038;post=1234&#038;subd=fieldnotes&#038;ref=&#038;feed=1" width="1" height="1" />]]></content:encoded>
					<wfw:commentRss>{base}/blog/2024/01/15/tomatoes-first-frost/feed/</wfw:commentRss>
			<slash:comments>3</slash:comments>
		</item>
	<item>
		<title>Seed catalogue season</title>
		<link>{base}/blog/2024/01/14/seed-catalogue/</link>
		<dc:creator><![CDATA[Ada Gardener]]></dc:creator>
		<pubDate>Sun, 14 Jan 2024 18:05:00 +0000</pubDate>
		<guid isPermaLink="false">{base}/blog/?p=1229</guid>
		<description><![CDATA[{catalogue}]]></description>
	</item>
	</channel>
</rss>
"#
    )
}

fn medium_rss(base: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><rss xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:atom="http://www.w3.org/2005/Atom" version="2.0" xmlns:cc="http://cyber.law.harvard.edu/rss/creativeCommonsRssModule.html">
    <channel>
        <title><![CDATA[Stories by Jane Doe on Medium]]></title>
        <description><![CDATA[Stories by Jane Doe on Medium]]></description>
        <link>https://medium.com/@janedoe?source=rss-5f3c1d2e9a7b------2</link>
        <image>
            <url>https://cdn-images-1.medium.com/fit/c/150/150/1*abcdef.jpeg</url>
            <title>Stories by Jane Doe on Medium</title>
            <link>https://medium.com/@janedoe?source=rss-5f3c1d2e9a7b------2</link>
        </image>
        <generator>Medium</generator>
        <lastBuildDate>Wed, 07 Feb 2024 18:02:11 GMT</lastBuildDate>
        <atom:link href="{base}/feed/@janedoe" rel="self" type="application/rss+xml"/>
        <webMaster><![CDATA[yourfriends@medium.com]]></webMaster>
        <atom:link href="http://medium.superfeedr.com" rel="hub"/>
        <item>
            <title><![CDATA[Why I Back Up Everything]]></title>
            <link>https://medium.com/@janedoe/why-i-back-up-everything-3b1f0c9d8e2a?source=rss-5f3c1d2e9a7b------2</link>
            <guid isPermaLink="false">https://medium.com/p/3b1f0c9d8e2a</guid>
            <category><![CDATA[backup]]></category>
            <category><![CDATA[data]]></category>
            <dc:creator><![CDATA[Jane Doe]]></dc:creator>
            <pubDate>Wed, 07 Feb 2024 17:45:03 GMT</pubDate>
            <atom:updated>2024-02-07T17:58:40.112Z</atom:updated>
            <content:encoded><![CDATA[<h3>Why I Back Up Everything</h3><p>Platforms die. <a href="https://example.org/graveyard">The graveyard</a> is long.</p><figure><img alt="A server rack" src="{base}/max/1024/1*Xy9_ZzQw.png" /><figcaption>Photo by someone</figcaption></figure><p>So I keep copies.</p><img src="https://medium.com/_/stat?event=post.clientViewed&amp;referrerSource=full_rss&amp;postId=3b1f0c9d8e2a" width="1" height="1" alt="">]]></content:encoded>
        </item>
    </channel>
</rss>"#
    )
}

fn youtube_atom(base: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="{base}/feeds/videos.xml?channel_id=UCxyz123"/>
 <id>yt:channel:xyz123</id>
 <yt:channelId>xyz123</yt:channelId>
 <title>Repair Café</title>
 <link rel="alternate" href="https://www.youtube.com/channel/UCxyz123"/>
 <author>
  <name>Repair Café</name>
  <uri>https://www.youtube.com/channel/UCxyz123</uri>
 </author>
 <published>2015-06-01T10:00:00+00:00</published>
 <entry>
  <id>yt:video:dQw4w9WgXcQ</id>
  <yt:videoId>dQw4w9WgXcQ</yt:videoId>
  <yt:channelId>UCxyz123</yt:channelId>
  <title>Fixing a 1970s radio</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"/>
  <author>
   <name>Repair Café</name>
   <uri>https://www.youtube.com/channel/UCxyz123</uri>
  </author>
  <published>2024-04-10T15:00:06+00:00</published>
  <updated>2024-04-12T08:21:44+00:00</updated>
  <media:group>
   <media:title>Fixing a 1970s radio</media:title>
   <media:content url="https://www.youtube.com/v/dQw4w9WgXcQ?version=3" type="application/x-shockwave-flash" width="640" height="390"/>
   <media:thumbnail url="{base}/vi/dQw4w9WgXcQ/hqdefault.jpg" width="480" height="360"/>
   <media:description>Capacitors, &amp; patience.
Parts list: https://example.org/parts</media:description>
   <media:community>
    <media:starRating count="1523" average="5.00" min="1" max="5"/>
    <media:statistics views="48211"/>
   </media:community>
  </media:group>
 </entry>
 <entry>
  <id>yt:video:aBcDeFgHiJk</id>
  <yt:videoId>aBcDeFgHiJk</yt:videoId>
  <yt:channelId>UCxyz123</yt:channelId>
  <title>Tuning a valve amplifier</title>
  <link rel="alternate" href="https://www.youtube.com/watch?v=aBcDeFgHiJk"/>
  <author>
   <name>Repair Café</name>
   <uri>https://www.youtube.com/channel/UCxyz123</uri>
  </author>
  <published>2024-04-02T09:00:00+00:00</published>
  <updated>2024-04-02T09:30:00+00:00</updated>
  <media:group>
   <media:title>Tuning a valve amplifier</media:title>
   <media:content url="https://www.youtube.com/v/aBcDeFgHiJk?version=3" type="application/x-shockwave-flash" width="640" height="390"/>
   <media:thumbnail url="{base}/vi/aBcDeFgHiJk/hqdefault.jpg" width="480" height="360"/>
   <media:description>Valves glow warm in the dark.</media:description>
   <media:community>
    <media:starRating count="88" average="4.90" min="1" max="5"/>
    <media:statistics views="1200"/>
   </media:community>
  </media:group>
 </entry>
</feed>"#
    )
}

fn mastodon_rss(base: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:webfeeds="http://webfeeds.org/rss/1.0" xmlns:media="http://search.yahoo.com/mrss/">
  <channel>
    <title>Ada Lovelace</title>
    <description>Public posts from @ada@social.example</description>
    <link>https://social.example/@ada</link>
    <image>
      <url>https://files.social.example/accounts/avatars/000/000/001/original/ab12.png</url>
      <title>Ada Lovelace</title>
      <link>https://social.example/@ada</link>
    </image>
    <lastBuildDate>Sat, 18 May 2024 12:00:00 +0000</lastBuildDate>
    <webfeeds:icon>https://files.social.example/accounts/avatars/000/000/001/original/ab12.png</webfeeds:icon>
    <generator>Mastodon v4.2.8</generator>
    <item>
      <guid isPermaLink="true">https://social.example/@ada/112458734563412345</guid>
      <link>https://social.example/@ada/112458734563412345</link>
      <pubDate>Sat, 18 May 2024 11:42:17 +0000</pubDate>
      <description>&lt;p&gt;Backed up my garden photos &amp;amp; notes today. &lt;a href="https://social.example/tags/backup" class="mention hashtag" rel="tag"&gt;#&lt;span&gt;backup&lt;/span&gt;&lt;/a&gt;&lt;/p&gt;</description>
      <media:content url="{base}/system/media_attachments/files/112/458/734/original/f00d.png" type="image/png" fileSize="482133" medium="image">
        <media:rating scheme="urn:simple">nonadult</media:rating>
        <media:description type="plain">Tomato seedlings on a windowsill</media:description>
      </media:content>
      <category>backup</category>
    </item>
    <item>
      <guid isPermaLink="true">https://social.example/@ada/112450000000000001</guid>
      <link>https://social.example/@ada/112450000000000001</link>
      <pubDate>Fri, 17 May 2024 08:00:00 +0000</pubDate>
      <description>&lt;p&gt;Seedlings are up! Tiny and stubborn.&lt;/p&gt;</description>
    </item>
  </channel>
</rss>"#
    )
}

fn json_feed(base: &str) -> String {
    json!({
      "version": "https://jsonfeed.org/version/1.1",
      "title": "Morning Pages",
      "home_page_url": format!("{base}/"),
      "feed_url": format!("{base}/feed.json"),
      "language": "en",
      "authors": [{"name": "Sam Rivera", "url": format!("{base}/about")}],
      "items": [
        {
          "id": format!("{base}/2024/06/01/rain"),
          "url": format!("{base}/2024/06/01/rain"),
          "title": "Rain, finally",
          "content_html": "<p>It rained &mdash; at last.</p><p><img src=\"/media/rain.png\" alt=\"\"></p>",
          "summary": "It rained.",
          "date_published": "2024-06-01T07:30:00-04:00",
          "date_modified": "2024-06-01T08:00:00-04:00",
          "tags": ["weather", "garden"],
          "attachments": [
            {"url": format!("{base}/media/rain-full.png"), "mime_type": "image/png", "size_in_bytes": 183022}
          ]
        },
        {
          "id": "42",
          "content_text": "Just a short note.\n\nTwo paragraphs.",
          "date_published": "2024-06-02T12:00:00Z"
        }
      ]
    })
    .to_string()
}

/// What real feeds also do: entries without dates, ids or titles, relative links, an
/// enclosure, and HTML that must never run.
fn odd_rss(base: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>Odds &amp; ends</title>
  <link>{base}/</link>
  <description>Whatever does not fit elsewhere</description>
  <item>
    <title>Undated musing</title>
    <guid isPermaLink="false">odd-undated</guid>
    <description>No date on this one; the frost came first.</description>
  </item>
  <item>
    <title>Relative link</title>
    <link>/posts/7.html</link>
    <pubDate>Tue, 02 Jul 2024 10:00:00 GMT</pubDate>
    <description>Seven is a relative number.</description>
  </item>
  <item>
    <title>Episode one</title>
    <guid isPermaLink="false">odd-episode-1</guid>
    <pubDate>Wed, 03 Jul 2024 10:00:00 GMT</pubDate>
    <description>Listen to this.</description>
    <enclosure url="{base}/audio/ep1.mp3" length="4096" type="audio/mpeg"/>
  </item>
  <item>
    <description>&lt;b&gt;Nothing&lt;/b&gt; but words.</description>
  </item>
  <item>
    <title>Careful with this one</title>
    <guid isPermaLink="false">odd-xss</guid>
    <pubDate>Thu, 04 Jul 2024 10:00:00 GMT</pubDate>
    <content:encoded><![CDATA[<p onclick="steal()">Harmless words about zucchini.</p><script>alert(1)</script><p><a href="javascript:alert(2)">More zucchini.</a></p>]]></content:encoded>
  </item>
</channel>
</rss>"#
    )
}

const BLOG_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en-GB">
<head>
<meta charset="UTF-8">
<title>Field Notes &#8211; Notes from the allotment</title>
<link rel='dns-prefetch' href='//fieldnotes.example.com' />
<link rel="alternate" type="application/json" href="/blog/wp-json/wp/v2/pages/2" />
<link rel="alternate" type="application/rss+xml" title="Field Notes &raquo; Feed" href="/blog/feed/" />
<link rel="alternate" type="application/rss+xml" title="Field Notes &raquo; Comments Feed" href="/blog/comments/feed/" />
</head>
<body><h1>Field Notes</h1></body>
</html>"#;

// ---- the archive under test -------------------------------------------------------------

/// Every file the site serves, by path, with its bytes and type.
struct Files {
    files: BTreeMap<&'static str, (Vec<u8>, &'static str)>,
}

impl Files {
    fn new() -> Files {
        let mut files = BTreeMap::new();
        let mut add = |path: &'static str, bytes: Vec<u8>, kind: &'static str| {
            files.insert(path, (bytes, kind));
        };
        add(
            "/blog/wp-content/uploads/2024/01/frost-1024x768.png",
            png(1, 24, 18),
            "image/png",
        );
        add(
            "/blog/wp-content/uploads/2024/01/cloche.png",
            png(2, 16, 16),
            "image/png",
        );
        add(
            "/blog/wp-content/uploads/2024/01/garlic.png",
            png(3, 20, 15),
            "image/png",
        );
        add("/max/1024/1*Xy9_ZzQw.png", png(4, 32, 8), "image/png");
        add("/vi/dQw4w9WgXcQ/hqdefault.jpg", png(5, 48, 36), "image/png");
        add("/vi/aBcDeFgHiJk/hqdefault.jpg", png(6, 48, 36), "image/png");
        add(
            "/system/media_attachments/files/112/458/734/original/f00d.png",
            png(7, 12, 12),
            "image/png",
        );
        add("/media/rain.png", png(8, 10, 30), "image/png");
        add("/media/rain-full.png", png(9, 60, 40), "image/png");
        add("/audio/ep1.mp3", mp3(), "audio/mpeg");
        add(
            "/pixel/b.gif",
            b"GIF89a\x01\x00\x01\x00".to_vec(),
            "image/gif",
        );
        Files { files }
    }

    fn bytes(&self, path: &str) -> &[u8] {
        &self.files[path].0
    }
}

/// A data directory with alice (administrator) and her API key, a fake site, and a server
/// started on demand.
struct Env {
    data: TempDir,
    site: Site,
    files: Files,
    server: Option<Server>,
    key: String,
}

impl Env {
    fn new() -> Env {
        let data = tempfile::tempdir().expect("data dir");
        add_user(data.path(), "alice", ALICE_PASSWORD, true);
        let key = api_key(data.path(), "alice");
        let site = Site::start();
        let files = Files::new();
        for (path, (bytes, kind)) in &files.files {
            site.route(path, Route::ok(kind, bytes.clone()));
        }
        Env {
            data,
            site,
            files,
            server: None,
            key,
        }
    }

    fn dir(&self) -> &Path {
        self.data.path()
    }

    fn db_path(&self) -> PathBuf {
        self.dir().join("lifeboat.db")
    }

    fn media_dir(&self) -> PathBuf {
        self.dir().join("media")
    }

    fn start_server(&mut self) -> &Server {
        if self.server.is_none() {
            self.server = Some(Server::start_in(self.data.path()));
        }
        self.server.as_ref().unwrap()
    }

    fn server(&self) -> &Server {
        self.server.as_ref().expect("server started")
    }

    fn api(&self) -> Api {
        self.server().api(&self.key)
    }

    /// `lifeboat connect --user alice feed --url URL`, returning the id.
    fn connect(&self, url: &str) -> i64 {
        let id = cli_ok(
            self.dir(),
            &["connect", "--user", "alice", "feed", "--url", url],
            None,
        );
        id.parse()
            .unwrap_or_else(|_| panic!("connect printed {id:?}, not an id"))
    }

    /// `lifeboat sync --connection ID --wait`.
    fn sync(&self, id: i64) -> Output {
        cli(
            self.dir(),
            &["sync", "--connection", &id.to_string(), "--wait"],
            None,
        )
    }

    /// A sync that must succeed; returns its summary line.
    fn sync_ok(&self, id: i64) -> String {
        let out = self.sync(id);
        assert!(
            out.status.success(),
            "sync {id} failed:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end()
            .to_string()
    }

    /// Read-only look at the database, as an operator with sqlite3 would take.
    fn query_i64(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open_with_flags(
            self.db_path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .expect("open database read-only");
        conn.query_row(sql, [], |r| r.get(0)).expect(sql)
    }
}

/// Connection ids of the fully synced archive.
struct Feeds {
    wordpress: i64,
    medium: i64,
    youtube: i64,
    mastodon: i64,
    json: i64,
    odd: i64,
}

const TOTAL_POSTS: usize = 14;
const TOTAL_FILES: usize = 9;

/// Serves the six feeds, connects and syncs each through the CLI (the server running
/// beside it, as in real use) and checks every summary line.
fn synced_archive() -> (Env, Feeds) {
    let mut env = Env::new();
    let base = env.site.base.clone();
    env.site.route(
        "/blog/feed/",
        Route::ok(
            "application/rss+xml; charset=UTF-8",
            wordpress_rss(&base, false),
        )
        .validators(WP_ETAG, WP_MODIFIED),
    );
    env.site.route(
        "/feed/@janedoe",
        Route::ok("text/xml; charset=UTF-8", medium_rss(&base)),
    );
    env.site.route(
        "/feeds/videos.xml?channel_id=UCxyz123",
        Route::ok("application/atom+xml; charset=UTF-8", youtube_atom(&base)),
    );
    env.site.route(
        "/@ada.rss",
        Route::ok("application/rss+xml; charset=utf-8", mastodon_rss(&base)),
    );
    env.site.route(
        "/feed.json",
        Route::ok("application/feed+json", json_feed(&base)),
    );
    env.site
        .route("/odd.xml", Route::ok("application/rss+xml", odd_rss(&base)));
    env.start_server();

    let feeds = Feeds {
        wordpress: env.connect(&env.site.url("/blog/feed/")),
        medium: env.connect(&env.site.url("/feed/@janedoe")),
        youtube: env.connect(&env.site.url("/feeds/videos.xml?channel_id=UCxyz123")),
        mastodon: env.connect(&env.site.url("/@ada.rss")),
        json: env.connect(&env.site.url("/feed.json")),
        odd: env.connect(&env.site.url("/odd.xml")),
    };
    let summary = |id: i64, posts: usize, files: usize| {
        format!(
            "connection {id}: completed · fetched {posts} posts · {posts} created · 0 updated · \
             {files} files saved · 0 files failed · {posts} entries in the feed"
        )
    };
    for (id, posts, files) in [
        (feeds.wordpress, 2, 2),
        (feeds.medium, 1, 1),
        (feeds.youtube, 2, 2),
        (feeds.mastodon, 2, 1),
        (feeds.json, 2, 2),
        (feeds.odd, 5, 1),
    ] {
        assert_eq!(env.sync_ok(id), summary(id, posts, files));
    }
    (env, feeds)
}

async fn get_json(api: &Api, path: &str) -> Value {
    let page = api.get(path).await;
    assert_eq!(page.status, 200, "GET {path}: {}", page.body);
    page.json()
}

/// Every post the API lists for `query`, walking the cursor with `limit`.
async fn all_posts(api: &Api, query: &str, limit: usize) -> Vec<Value> {
    let mut posts = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/api/v1/posts?limit={limit}");
        if !query.is_empty() {
            path.push('&');
            path.push_str(query);
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let page = get_json(api, &path).await;
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit, "{path} gave {} items", items.len());
        posts.extend(items);
        match page["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return posts,
        }
    }
    panic!("paging {query} never ended");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn by_title<'a>(posts: &'a [Value], title: &str) -> &'a Value {
    let found: Vec<&Value> = posts.iter().filter(|p| p["title"] == title).collect();
    assert_eq!(found.len(), 1, "posts titled {title:?}: {found:?}");
    found[0]
}

fn ids(posts: &[Value]) -> Vec<i64> {
    posts.iter().map(|p| p["id"].as_i64().unwrap()).collect()
}

fn titles(posts: &[Value]) -> Vec<String> {
    posts
        .iter()
        .map(|p| p["title"].as_str().unwrap_or("(untitled)").to_string())
        .collect()
}

/// Every file under the media directory, relative to it.
fn media_files(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = common::snapshot(dir)
        .into_keys()
        .map(|p| p.strip_prefix(dir).unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    found
}

/// Polls the connection's sync logs until `log_id` has finished; returns it.
async fn wait_for_log(api: &Api, connection: i64, log_id: i64) -> Value {
    let started = Instant::now();
    loop {
        let logs = get_json(api, &format!("/api/v1/connections/{connection}/sync_logs")).await;
        let log = logs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["id"] == log_id)
            .cloned()
            .expect("the sync log is listed");
        if log["status"] != "running" {
            return log;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "sync log {log_id} still running: {log}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---- syncing -----------------------------------------------------------------------------

#[tokio::test]
async fn every_feed_format_becomes_the_right_posts() {
    let (env, feeds) = synced_archive();
    let api = env.api();
    let base = env.site.base.clone();
    let posts = all_posts(&api, "", 200).await;
    assert_eq!(posts.len(), TOTAL_POSTS, "{:?}", titles(&posts));

    let check = |post: &Value, connection: i64, expected: Value| {
        assert_eq!(post["connection_id"], connection, "{post}");
        assert_eq!(post["platform"], "feed", "{post}");
        for (field, value) in expected.as_object().unwrap() {
            assert_eq!(&post[field], value, "{field} of {post}");
        }
    };

    // WordPress: entities decoded, CDATA content as text, dc:creator as author.
    let tomatoes = by_title(&posts, "Tomatoes & the first frost’s lesson");
    check(
        tomatoes,
        feeds.wordpress,
        json!({
            "platform_post_id": format!("{base}/blog/?p=1234"),
            "kind": "article",
            "author": "Ada Gardener",
            "text": "The frost came early this year & the tomatoes knew it’s over. Next year: cloches > hope.",
            "url": format!("{base}/blog/2024/01/15/tomatoes-first-frost/"),
            "created_at": "2024-01-15T09:30:00Z",
            "has_media": true,
        }),
    );
    check(
        by_title(&posts, "Seed catalogue season"),
        feeds.wordpress,
        json!({
            "kind": "article",
            "author": "Ada Gardener",
            "text": "Catalogues arrived. I ordered too much.",
            "url": format!("{base}/blog/2024/01/14/seed-catalogue/"),
            "created_at": "2024-01-14T18:05:00Z",
            "has_media": false,
        }),
    );
    // Medium: the tracking pixel is no media; published, not atom:updated, is the date.
    check(
        by_title(&posts, "Why I Back Up Everything"),
        feeds.medium,
        json!({
            "platform_post_id": "https://medium.com/p/3b1f0c9d8e2a",
            "kind": "article",
            "author": "Jane Doe",
            "text": "Why I Back Up Everything Platforms die. The graveyard is long. Photo by someone So I keep copies.",
            "url": "https://medium.com/@janedoe/why-i-back-up-everything-3b1f0c9d8e2a?source=rss-5f3c1d2e9a7b------2",
            "created_at": "2024-02-07T17:45:03Z",
            "has_media": true,
        }),
    );
    // YouTube: videos, with the media description as text and the community counts.
    check(
        by_title(&posts, "Fixing a 1970s radio"),
        feeds.youtube,
        json!({
            "platform_post_id": "yt:video:dQw4w9WgXcQ",
            "kind": "video",
            "author": "Repair Café",
            "text": "Capacitors, & patience. Parts list: https://example.org/parts",
            "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
            "created_at": "2024-04-10T15:00:06Z",
            "engagement": {"views": 48211, "ratings": 1523},
            "has_media": true,
        }),
    );
    check(
        by_title(&posts, "Tuning a valve amplifier"),
        feeds.youtube,
        json!({
            "platform_post_id": "yt:video:aBcDeFgHiJk",
            "kind": "video",
            "text": "Valves glow warm in the dark.",
            "url": "https://www.youtube.com/watch?v=aBcDeFgHiJk",
            "created_at": "2024-04-02T09:00:00Z",
            "engagement": {"views": 1200, "ratings": 88},
        }),
    );
    // Mastodon: untitled posts, escaped HTML turned into text.
    let toots: Vec<&Value> = posts
        .iter()
        .filter(|p| p["connection_id"] == feeds.mastodon)
        .collect();
    assert_eq!(toots.len(), 2);
    let toot = |id: &str| {
        *toots
            .iter()
            .find(|p| p["platform_post_id"] == id)
            .unwrap_or_else(|| panic!("no toot {id}"))
    };
    check(
        toot("https://social.example/@ada/112458734563412345"),
        feeds.mastodon,
        json!({
            "kind": "post",
            "title": null,
            "author": null,
            "text": "Backed up my garden photos & notes today. #backup",
            "url": "https://social.example/@ada/112458734563412345",
            "created_at": "2024-05-18T11:42:17Z",
            "has_media": true,
        }),
    );
    check(
        toot("https://social.example/@ada/112450000000000001"),
        feeds.mastodon,
        json!({
            "kind": "post",
            "text": "Seedlings are up! Tiny and stubborn.",
            "created_at": "2024-05-17T08:00:00Z",
            "has_media": false,
        }),
    );
    // JSON Feed 1.1: the feed's author speaks for its items; dates with offsets to UTC.
    check(
        by_title(&posts, "Rain, finally"),
        feeds.json,
        json!({
            "platform_post_id": format!("{base}/2024/06/01/rain"),
            "kind": "article",
            "author": "Sam Rivera",
            "text": "It rained — at last.",
            "url": format!("{base}/2024/06/01/rain"),
            "created_at": "2024-06-01T11:30:00Z",
            "has_media": true,
        }),
    );
    let note = posts
        .iter()
        .find(|p| p["connection_id"] == feeds.json && p["platform_post_id"] == "42")
        .expect("JSON Feed item 42");
    check(
        note,
        feeds.json,
        json!({
            "kind": "post",
            "title": null,
            "url": null,
            "text": "Just a short note. Two paragraphs.",
            "created_at": "2024-06-02T12:00:00Z",
        }),
    );
    // The odd ones.
    check(
        by_title(&posts, "Undated musing"),
        feeds.odd,
        json!({
            "platform_post_id": "odd-undated",
            "kind": "article",
            "text": "No date on this one; the frost came first.",
            "url": null,
            "created_at": null,
        }),
    );
    check(
        by_title(&posts, "Relative link"),
        feeds.odd,
        json!({
            "kind": "article",
            "url": format!("{base}/posts/7.html"),
            "created_at": "2024-07-02T10:00:00Z",
        }),
    );
    check(
        by_title(&posts, "Episode one"),
        feeds.odd,
        json!({
            "platform_post_id": "odd-episode-1",
            "kind": "audio",
            "text": "Listen to this.",
            "created_at": "2024-07-03T10:00:00Z",
            "has_media": true,
        }),
    );
    let words = posts
        .iter()
        .find(|p| p["text"] == "Nothing but words.")
        .expect("the entry with neither title, id, link nor date");
    check(
        words,
        feeds.odd,
        json!({
            "platform_post_id": sha256_hex(b"\n<b>Nothing</b> but words."),
            "kind": "post",
            "title": null,
            "url": null,
            "created_at": null,
        }),
    );
    check(
        by_title(&posts, "Careful with this one"),
        feeds.odd,
        json!({"kind": "article", "text": "Harmless words about zucchini. More zucchini.", "created_at": "2024-07-04T10:00:00Z"}),
    );
    // Every URL the archive links to is absolute.
    for post in &posts {
        if let Some(url) = post["url"].as_str() {
            let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(matches!(parsed.scheme(), "http" | "https"), "{url}");
        }
    }
    // Newest first, undated posts (first seen now) on top.
    let dated: Vec<&str> = posts
        .iter()
        .filter_map(|p| p["created_at"].as_str())
        .collect();
    let mut sorted = dated.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(dated, sorted);
    assert!(posts[..2].iter().all(|p| p["created_at"].is_null()));

    // Each sync is on record, through the API too.
    let logs = get_json(
        &api,
        &format!("/api/v1/connections/{}/sync_logs", feeds.odd),
    )
    .await;
    let logs = logs["items"].as_array().unwrap();
    assert_eq!(logs.len(), 1);
    for (field, value) in [
        ("status", json!("completed")),
        ("trigger", json!("cli")),
        ("items_fetched", json!(1)),
        ("posts_fetched", json!(5)),
        ("posts_created", json!(5)),
        ("posts_updated", json!(0)),
        ("media_downloaded", json!(1)),
        ("media_failed", json!(0)),
        ("error", json!(null)),
    ] {
        assert_eq!(logs[0][field], value, "{field} of {}", logs[0]);
    }
}

#[tokio::test]
async fn same_host_images_are_downloaded_and_served_back_exactly() {
    let (env, _feeds) = synced_archive();
    let api = env.api();
    let base = env.site.base.clone();
    let posts = all_posts(&api, "", 200).await;
    let tomatoes = by_title(&posts, "Tomatoes & the first frost’s lesson");
    let post = get_json(&api, &format!("/api/v1/posts/{}", tomatoes["id"])).await;
    let media = post["media"].as_array().expect("media list");
    let frost = "/blog/wp-content/uploads/2024/01/frost-1024x768.png";
    let cloche = "/blog/wp-content/uploads/2024/01/cloche.png";
    // In the post's order; the relative image resolved; the 1×1 tracking pixel left out.
    let urls: Vec<&str> = media.iter().map(|m| m["url"].as_str().unwrap()).collect();
    assert_eq!(urls, [base.clone() + frost, base.clone() + cloche]);
    assert!(env.site.seen_for("/pixel/b.gif").is_empty());
    assert!(
        env.site
            .seen()
            .iter()
            .all(|s| !s.path.starts_with("/pixel/")),
        "the tracking pixel was fetched"
    );

    for (m, path) in media.iter().zip([frost, cloche]) {
        let expected = env.files.bytes(path);
        assert_eq!(m["status"], "completed", "{m}");
        assert_eq!(m["kind"], "image");
        assert_eq!(m["content_type"], "image/png");
        assert_eq!(m["size"], expected.len());
        assert_eq!(m["sha256"], sha256_hex(expected));
        let href = format!("/api/v1/media/{}", m["id"]);
        assert_eq!(m["href"], href);

        let file = api
            .client
            .get(env.server().url(&href))
            .bearer_auth(&env.key)
            .send()
            .await
            .unwrap();
        assert_eq!(file.status(), 200);
        let headers = file.headers().clone();
        assert_eq!(headers["content-type"], "image/png");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(file.bytes().await.unwrap().as_ref(), expected);

        let range = api
            .client
            .get(env.server().url(&href))
            .bearer_auth(&env.key)
            .header("range", "bytes=0-3")
            .send()
            .await
            .unwrap();
        assert_eq!(range.status(), 206);
        let headers = range.headers().clone();
        assert_eq!(
            headers["content-range"],
            format!("bytes 0-3/{}", expected.len()).as_str()
        );
        assert_eq!(headers["content-type"], "image/png");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(range.bytes().await.unwrap().as_ref(), &expected[..4]);
        assert_eq!(&expected[..4], b"\x89PNG");
    }

    // Without a key, nothing.
    let anonymous = Api::new(&env.server().base, None);
    let page = anonymous
        .get(&format!("/api/v1/media/{}", media[0]["id"]))
        .await;
    assert_eq!(page.status, 401);

    // Every file of every feed is stored: bytes equal to what the site served.
    let mut stored = 0;
    for post in &posts {
        let full = get_json(&api, &format!("/api/v1/posts/{}", post["id"])).await;
        for m in full["media"].as_array().unwrap() {
            let path = m["url"].as_str().unwrap().strip_prefix(&base).unwrap();
            let (bytes, kind) = &env.files.files[path];
            assert_eq!(m["status"], "completed", "{m}");
            assert_eq!(m["content_type"], *kind, "{m}");
            assert_eq!(m["sha256"], sha256_hex(bytes), "{m}");
            stored += 1;
        }
    }
    assert_eq!(stored, TOTAL_FILES);
    // On disk: exactly those files, under {user}/{platform}/{sha256(url)}.{ext}.
    let mut expected_files = Vec::new();
    for (path, (_, kind)) in &env.files.files {
        if *path == "/pixel/b.gif" || path.contains("garlic") {
            continue;
        }
        let ext = if *kind == "audio/mpeg" { "mp3" } else { "png" };
        expected_files.push(format!(
            "1/feed/{}.{ext}",
            sha256_hex(format!("{base}{path}").as_bytes())
        ));
    }
    expected_files.sort();
    assert_eq!(media_files(&env.media_dir()), expected_files);
}

#[tokio::test]
async fn a_second_sync_asks_conditionally_and_adds_nothing() {
    let (env, feeds) = synced_archive();
    let api = env.api();
    let before = all_posts(&api, "", 200).await;

    // The WordPress site knows its ETag and answers 304 to a request that sends it back.
    assert_eq!(
        env.sync_ok(feeds.wordpress),
        format!(
            "connection {}: completed · fetched 0 posts · 0 created · 0 updated · 0 files saved · \
             0 files failed · Nothing new: feed unchanged (304 Not Modified).",
            feeds.wordpress
        )
    );
    // `connect` looked at the URL once, then came the two syncs.
    let all = env.site.seen_for("/blog/feed/");
    assert_eq!(all.len(), 3, "{all:?}");
    let requests = &all[1..];
    assert!(!requests[0].headers.contains_key("if-none-match"));
    assert!(!requests[0].headers.contains_key("if-modified-since"));
    assert_eq!(requests[0].status, 200);
    assert_eq!(
        requests[1].headers.get("if-none-match").map(String::as_str),
        Some(WP_ETAG)
    );
    assert_eq!(
        requests[1]
            .headers
            .get("if-modified-since")
            .map(String::as_str),
        Some(WP_MODIFIED)
    );
    assert_eq!(requests[1].status, 304);

    // Medium sends no validators, so the whole feed comes again: still nothing new.
    assert_eq!(
        env.sync_ok(feeds.medium),
        format!(
            "connection {}: completed · fetched 0 posts · 0 created · 0 updated · 0 files saved · \
             0 files failed · Nothing new: 1 entries in the feed.",
            feeds.medium
        )
    );
    assert_eq!(env.site.seen_for("/feed/@janedoe").len(), 3);

    let logs = get_json(
        &api,
        &format!("/api/v1/connections/{}/sync_logs", feeds.wordpress),
    )
    .await;
    let logs = logs["items"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    assert_eq!(logs[0]["status"], "completed");
    assert_eq!(logs[0]["posts_created"], 0);
    assert_eq!(logs[0]["posts_updated"], 0);
    assert_eq!(logs[0]["items_fetched"], 0);
    assert_eq!(logs[1]["posts_created"], 2);

    // Not a single file fetched twice, not a post changed.
    for path in env.files.files.keys() {
        assert!(env.site.seen_for(path).len() <= 1, "{path} fetched twice");
    }
    assert_eq!(all_posts(&api, "", 200).await, before);
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM ingested_items"), 6);
}

#[tokio::test]
async fn a_changed_feed_creates_one_post_and_updates_one() {
    let (env, feeds) = synced_archive();
    let api = env.api();
    let base = env.site.base.clone();
    let before = all_posts(&api, "", 200).await;
    let catalogue_before = by_title(&before, "Seed catalogue season").clone();

    env.site.route(
        "/blog/feed/",
        Route::ok(
            "application/rss+xml; charset=UTF-8",
            wordpress_rss(&base, true),
        )
        .validators("\"wp-5f3c-2\"", "Wed, 17 Jan 2024 07:05:00 GMT"),
    );
    assert_eq!(
        env.sync_ok(feeds.wordpress),
        format!(
            "connection {}: completed · fetched 3 posts · 1 created · 1 updated · 1 files saved · \
             0 files failed · 3 entries in the feed",
            feeds.wordpress
        )
    );
    let after = all_posts(&api, "", 200).await;
    assert_eq!(after.len(), TOTAL_POSTS + 1);
    let catalogue = by_title(&after, "Seed catalogue season");
    assert_eq!(
        catalogue["id"], catalogue_before["id"],
        "an edit keeps the post's id"
    );
    assert_eq!(
        catalogue["text"],
        "Catalogues came in. I ordered far too much – again."
    );
    assert_eq!(catalogue["created_at"], "2024-01-14T18:05:00Z");
    let garlic = by_title(&after, "Garlic goes in");
    assert_eq!(garlic["text"], "Cloves in, straw on top.");
    assert_eq!(garlic["created_at"], "2024-01-17T07:00:00Z");
    assert_eq!(garlic["url"], format!("{base}/blog/2024/01/17/garlic/"));
    let full = get_json(&api, &format!("/api/v1/posts/{}", garlic["id"])).await;
    let media = full["media"].as_array().unwrap();
    assert_eq!(media.len(), 1);
    assert_eq!(
        media[0]["sha256"],
        sha256_hex(
            env.files
                .bytes("/blog/wp-content/uploads/2024/01/garlic.png")
        )
    );
    // Search knows the new words, and forgets the old ones.
    for (query, expected) in [
        ("q=arrived", vec![]),
        ("q=again", vec!["Seed catalogue season"]),
        ("q=garlic", vec!["Garlic goes in"]),
    ] {
        assert_eq!(
            titles(&all_posts(&api, query, 200).await),
            expected,
            "{query}"
        );
    }
    // Every other post is exactly as it was.
    for post in &before {
        if post["id"] != catalogue_before["id"] {
            assert!(after.contains(post), "changed: {post}");
        }
    }

    // And the next sync is a 304 again, with the new validator.
    assert!(
        env.sync_ok(feeds.wordpress)
            .ends_with("Nothing new: feed unchanged (304 Not Modified).")
    );
    let last = env.site.seen_for("/blog/feed/").pop().unwrap();
    assert_eq!(last.headers["if-none-match"], "\"wp-5f3c-2\"");
    assert_eq!(last.status, 304);
}

#[tokio::test]
async fn a_server_error_fails_the_sync_loses_nothing_and_a_later_sync_works() {
    let (env, feeds) = synced_archive();
    let api = env.api();
    let base = env.site.base.clone();
    let before = all_posts(&api, "", 200).await;

    env.site.route(
        "/blog/feed/",
        Route::new(500, "text/html", "<h1>Internal Server Error</h1>"),
    );
    // Through the API this time: 202 and a log id, the work in the background.
    let started = api
        .post_json(
            &format!("/api/v1/connections/{}/sync", feeds.wordpress),
            &json!({}),
        )
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    let log_id = started.json()["sync_log_id"].as_i64().expect("sync_log_id");
    let log = wait_for_log(&api, feeds.wordpress, log_id).await;
    let expected_error =
        // The start of the platform's own answer is kept: it often says what is wrong.
        format!("temporary failure: {base}/blog/feed/ answered HTTP 500 Internal Server Error: <h1>Internal Server Error</h1>");
    assert_eq!(log["status"], "failed", "{log}");
    assert_eq!(log["trigger"], "api");
    assert_eq!(log["error"], expected_error.as_str());
    assert_eq!(log["posts_created"], 0);
    let connection = get_json(&api, &format!("/api/v1/connections/{}", feeds.wordpress)).await;
    assert_eq!(connection["status"], "error");
    assert_eq!(connection["last_error"], expected_error.as_str());
    assert_eq!(connection["error_count"], 1);
    // Nothing archived is lost, files included.
    assert_eq!(all_posts(&api, "", 200).await, before);
    let verify = cli_ok(env.dir(), &["verify"], None);
    assert_eq!(
        verify.lines().last(),
        Some(format!("{TOTAL_FILES} files checked, 0 missing, 0 altered").as_str())
    );

    // The CLI says so too: non-zero exit, the error on stderr.
    let out = env.sync(feeds.wordpress);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stdout.trim_end(),
        format!(
            "connection {}: failed · fetched 0 posts · 0 created · 0 updated · 0 files saved · 0 files failed",
            feeds.wordpress
        )
    );
    assert!(
        stderr.contains(&format!("connection {}: {expected_error}", feeds.wordpress)),
        "{stderr}"
    );
    let connection = get_json(&api, &format!("/api/v1/connections/{}", feeds.wordpress)).await;
    assert_eq!(connection["error_count"], 2);

    // The site recovers, with news: the next sync picks it all up.
    env.site.route(
        "/blog/feed/",
        Route::ok(
            "application/rss+xml; charset=UTF-8",
            wordpress_rss(&base, true),
        )
        .validators("\"wp-5f3c-2\"", "Wed, 17 Jan 2024 07:05:00 GMT"),
    );
    let summary = env.sync_ok(feeds.wordpress);
    assert!(
        summary.contains("completed · fetched 3 posts · 1 created · 1 updated · 1 files saved"),
        "{summary}"
    );
    let connection = get_json(&api, &format!("/api/v1/connections/{}", feeds.wordpress)).await;
    assert_eq!(connection["status"], "active");
    assert_eq!(connection["last_error"], Value::Null);
    assert_eq!(all_posts(&api, "", 200).await.len(), TOTAL_POSTS + 1);
}

#[tokio::test]
async fn rate_limiting_is_obeyed_and_reported() {
    let mut env = Env::new();
    env.site.route(
        "/blog/feed/",
        Route::ok("application/rss+xml", wordpress_rss(&env.site.base, false)),
    );
    let id = env.connect(&env.site.url("/blog/feed/"));
    env.site.route(
        "/blog/feed/",
        Route::new(429, "text/plain", "Too Many Requests").header("retry-after", "120"),
    );
    let out = env.sync(id);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error = "rate limited by the platform; retry after 120 s";
    assert!(
        stderr.contains(&format!("connection {id}: {error}")),
        "{stderr}"
    );
    // One request: a rate limit is not answered with a retry storm.
    assert_eq!(
        env.site.seen_for("/blog/feed/").len(),
        2,
        "connect + one sync"
    );

    env.start_server();
    let api = env.api();
    let connection = get_json(&api, &format!("/api/v1/connections/{id}")).await;
    assert_eq!(connection["status"], "error");
    assert_eq!(connection["last_error"], error);
    let logs = get_json(&api, &format!("/api/v1/connections/{id}/sync_logs")).await;
    assert_eq!(logs["items"][0]["status"], "failed");
    assert_eq!(logs["items"][0]["error"], error);
    // The next scheduled sync waits exactly as long as the platform asked.
    assert_eq!(
        env.query_i64(&format!(
            "SELECT next_sync_at - updated_at FROM connections WHERE id = {id}"
        )),
        120
    );
    assert_eq!(all_posts(&api, "", 200).await.len(), 0);
}

#[tokio::test]
async fn a_body_that_is_not_a_feed_is_refused_clearly() {
    let mut env = Env::new();
    let base = env.site.base.clone();
    env.site.route(
        "/blog/feed/",
        Route::ok("application/rss+xml", wordpress_rss(&base, false)),
    );
    let id = env.connect(&env.site.url("/blog/feed/"));

    // The feed URL starts serving plain text (a misconfigured proxy, a parked domain).
    env.site.route(
        "/blog/feed/",
        Route::ok(
            "text/plain",
            "Service temporarily unavailable, please retry later.",
        ),
    );
    let out = env.sync(id);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "connection {id}: invalid response: not an RSS, Atom or JSON feed ("
        )),
        "{stderr}"
    );
    // ... or a web page.
    env.site.route(
        "/blog/feed/",
        Route::ok("text/html; charset=UTF-8", BLOG_PAGE),
    );
    let out = env.sync(id);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "connection {id}: invalid response: the URL is a web page, not a feed; use the address of its RSS or Atom feed"
        )),
        "{stderr}"
    );
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM ingested_items"), 0);

    // `connect` refuses such a URL up front, in one line.
    env.site
        .route("/notes.txt", Route::ok("text/plain", "just some notes"));
    let out = cli(
        env.dir(),
        &[
            "connect",
            "--user",
            "alice",
            "feed",
            "--url",
            &env.site.url("/notes.txt"),
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: invalid response: no feed found at {}: it is neither a feed nor a page that links to one",
            env.site.url("/notes.txt")
        )
    );

    env.start_server();
    let logs = get_json(&env.api(), &format!("/api/v1/connections/{id}/sync_logs")).await;
    let logs = logs["items"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    assert!(logs.iter().all(|l| l["status"] == "failed"));
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM connections"), 1);
}

#[tokio::test]
async fn a_web_page_url_finds_its_feed() {
    let mut env = Env::new();
    let base = env.site.base.clone();
    env.site
        .route("/blog/", Route::ok("text/html; charset=UTF-8", BLOG_PAGE));
    env.site.route(
        "/blog/feed/",
        Route::ok("application/rss+xml", wordpress_rss(&base, false)),
    );

    // The CLI.
    let id = env.connect(&env.site.url("/blog/"));
    env.start_server();
    let api = env.api();
    let connection = get_json(&api, &format!("/api/v1/connections/{id}")).await;
    assert_eq!(connection["url"], format!("{base}/blog/feed/"));
    assert_eq!(connection["kind"], "feed");
    assert!(env.sync_ok(id).contains("· fetched 2 posts · 2 created ·"));

    // The API.
    let created = api
        .post_json(
            "/api/v1/connections",
            &json!({"platform": "feed", "url": env.site.url("/blog/")}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["url"], format!("{base}/blog/feed/"));
    let bad = api
        .post_json(
            "/api/v1/connections",
            &json!({"platform": "feed", "url": env.site.url("/nothing-here")}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert_eq!(bad.json()["error"], "bad_request");

    // The connections page, and "Sync now" with live status.
    let browser = env.server().browser();
    browser.login_ok("alice", ALICE_PASSWORD).await;
    let added = browser
        .submit(
            "/connections",
            "/connections",
            &[("url", &env.site.url("/blog/"))],
        )
        .await;
    assert_eq!(added.status, 303, "{}", added.body);
    let location = added.location().unwrap().to_string();
    let web_id: i64 = location
        .strip_prefix("/connections/")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("redirect to {location}"));
    let page = browser.get(&location).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!("{base}/blog/feed/")),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    let fragment = browser
        .post_form_with(
            &format!("/connections/{web_id}/sync"),
            &[("csrf_token", &csrf)],
            &[("hx-request", "true")],
        )
        .await;
    assert_eq!(fragment.status, 200, "{}", fragment.body);
    assert!(
        fragment.body.contains(r#"id="sync-status""#),
        "{}",
        fragment.body
    );
    let started = Instant::now();
    let status = loop {
        let status = browser.get(&format!("/connections/{web_id}/status")).await;
        assert_eq!(status.status, 200);
        if !status.body.contains("hx-get=") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            status.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        status
            .body
            .contains(r#"<span class="badge completed">completed</span>"#),
        "{}",
        status.body
    );
    assert!(status.body.contains("2 new"), "{}", status.body);
    // The same user already has both images (from the first connection): stored once.
    assert!(status.body.contains("0 files saved"), "{}", status.body);
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM media"), 2);

    // Three connections to the same feed, never the page.
    assert_eq!(
        env.query_i64(&format!(
            "SELECT COUNT(*) FROM connections WHERE url = '{base}/blog/feed/'"
        )),
        3
    );
}

// ---- media that must not be downloaded -------------------------------------------------------

#[tokio::test]
async fn unsafe_oversized_and_non_media_files_are_refused() {
    let mut env = Env::new();
    let base = env.site.base.clone();
    let port = env.site.addr.port();
    let big: Vec<u8> = {
        let mut b = png(10, 8, 8);
        b.resize(2 * 1024 * 1024, 0x5a);
        b
    };
    env.site.route("/x.png", Route::png(&png(11, 4, 4)));
    env.site.route("/big.png", Route::png(&big));
    env.site
        .route("/big-stream.png", Route::png(&big).chunked());
    env.site.route(
        "/page.png",
        Route::ok(
            "text/html; charset=utf-8",
            "<!doctype html><p>Not an image</p>",
        ),
    );
    env.site.route("/ok.png", Route::png(&png(12, 9, 9)));
    let item = |id: &str, src: &str| {
        format!(
            "<item><title>{id}</title><guid isPermaLink=\"false\">{id}</guid>\
             <pubDate>Mon, 01 Jul 2024 10:00:00 GMT</pubDate>\
             <description>&lt;p&gt;{id}&lt;img src=\"{src}\"&gt;&lt;/p&gt;</description></item>"
        )
    };
    let feed = format!(
        "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Traps</title><link>{base}/</link>\
         <description>x</description>{}{}{}{}{}</channel></rss>",
        item("loopback", &format!("http://localhost:{port}/x.png")),
        item("too-big", &format!("{base}/big.png")),
        item("too-big-streamed", &format!("{base}/big-stream.png")),
        item("html", &format!("{base}/page.png")),
        item("fine", &format!("{base}/ok.png")),
    );
    env.site
        .route("/traps.xml", Route::ok("application/rss+xml", feed));
    let id = env.connect(&format!("http://127.0.0.1:{port}/traps.xml"));

    // With a 1 MB limit, no server running (so only this limit applies).
    let child = common::lifeboat(env.dir())
        .env("LIFEBOAT_MEDIA_MAX_MB", "1")
        .args(["sync", "--connection", &id.to_string(), "--wait"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sync");
    let out = wait_with_timeout(child, Duration::from_secs(60), "lifeboat sync");
    assert!(
        out.status.success(),
        "a refused file does not fail the sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        format!(
            "connection {id}: completed · fetched 5 posts · 5 created · 0 updated · 1 files saved · \
             4 files failed · 5 entries in the feed"
        )
    );
    // The loopback address under another name was never even asked.
    assert!(
        env.site.seen_for("/x.png").is_empty(),
        "{:?}",
        env.site.seen()
    );

    env.start_server();
    let api = env.api();
    let queue = get_json(&api, "/api/v1/queue").await;
    let media_depth = queue["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "media")
        .unwrap()
        .clone();
    assert_eq!(media_depth["dead_letter"], 4, "{queue}");
    assert_eq!(media_depth["completed"], 1, "{queue}");
    assert_eq!(media_depth["pending"], 0, "{queue}");
    let dead: HashMap<String, Value> = queue["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["label"].as_str().unwrap().to_string(), d.clone()))
        .collect();
    assert_eq!(dead.len(), 4, "{queue}");
    let reason = |url: String| -> String {
        let d = dead
            .get(&url)
            .unwrap_or_else(|| panic!("{url} is no dead letter: {queue}"));
        assert_eq!(d["stage"], "media");
        assert_eq!(d["attempts"], 1, "refusals are not retried: {d}");
        d["last_error"].as_str().unwrap().to_string()
    };
    assert_eq!(
        reason(format!("http://localhost:{port}/x.png")),
        "refused: localhost: the address is on a private, loopback or link-local network"
    );
    assert_eq!(
        reason(format!("{base}/big.png")),
        "refused: 2097152 bytes is over the 1048576 byte limit"
    );
    assert_eq!(
        reason(format!("{base}/big-stream.png")),
        "refused: larger than the 1048576 byte limit"
    );
    assert_eq!(
        reason(format!("{base}/page.png")),
        "refused: not an image, video or audio file"
    );

    // Only the good file is on disk; no partial download is left behind.
    assert_eq!(
        media_files(&env.media_dir()),
        [format!(
            "1/feed/{}.png",
            sha256_hex(format!("{base}/ok.png").as_bytes())
        )]
    );
    // Refused files are no files of the post.
    let posts = all_posts(&api, "", 200).await;
    let loopback = get_json(
        &api,
        &format!("/api/v1/posts/{}", by_title(&posts, "loopback")["id"]),
    )
    .await;
    assert_eq!(loopback["media"][0]["status"], "dead_letter");
    assert_eq!(loopback["media"][0]["href"], Value::Null);
    let dead_id = loopback["media"][0]["id"].as_i64().unwrap();
    assert_eq!(
        api.get(&format!("/api/v1/media/{dead_id}")).await.status,
        404
    );

    // The queue page offers retry and discard for each.
    let browser = env.server().browser();
    browser.login_ok("alice", ALICE_PASSWORD).await;
    let page = browser.get("/queue").await;
    assert_eq!(page.status, 200);
    for d in dead.values() {
        let action = format!("/queue/media/{}/discard", d["id"]);
        assert!(
            page.body.contains(&action),
            "no {action} on:\n{}",
            page.body
        );
    }
    let csrf = page.csrf();
    let discarded = browser
        .post_form(
            &format!("/queue/media/{dead_id}/discard"),
            &[("csrf_token", &csrf)],
        )
        .await;
    discarded.assert_redirect("/queue");
    let queue = get_json(&api, "/api/v1/queue").await;
    assert_eq!(queue["dead_letters"].as_array().unwrap().len(), 3);
}

// ---- search ----------------------------------------------------------------------------------

#[tokio::test]
async fn search_filters_and_paging() {
    let (env, _feeds) = synced_archive();
    let api = env.api();
    let search = |query: &'static str| {
        let api = &api;
        async move {
            let mut found = titles(&all_posts(api, query, 200).await);
            found.sort();
            found
        }
    };

    // A word, in the title or the text, any case.
    assert_eq!(search("q=zucchini").await, ["Careful with this one"]);
    assert_eq!(
        search("q=TOMATOES").await,
        ["Tomatoes & the first frost’s lesson"]
    );
    // Words anywhere, versus "a phrase".
    assert_eq!(
        search("q=first%20frost").await,
        ["Tomatoes & the first frost’s lesson", "Undated musing"]
    );
    assert_eq!(
        search("q=%22first%20frost%22").await,
        ["Tomatoes & the first frost’s lesson"]
    );
    // A prefix.
    assert_eq!(search("q=capacit*").await, ["Fixing a 1970s radio"]);
    assert_eq!(search("q=capacit").await, Vec::<String>::new());
    // Authors are searchable; diacritics do not matter.
    assert_eq!(
        search("q=gardener").await,
        [
            "Seed catalogue season",
            "Tomatoes & the first frost’s lesson"
        ]
    );
    assert_eq!(
        search("q=cafe").await,
        ["Fixing a 1970s radio", "Tuning a valve amplifier"]
    );
    // What a person types cannot break the query.
    for nasty in [
        "q=%22",
        "q=AND%20OR%20NOT",
        "q=(",
        "q=*",
        "q=title%3Afoo",
        "q=a%22b%22c",
    ] {
        let page = api.get(&format!("/api/v1/posts?{nasty}")).await;
        assert_eq!(page.status, 200, "{nasty}: {}", page.body);
    }
    // The search snippet marks the hit.
    let hit = get_json(&api, "/api/v1/posts?q=zucchini").await;
    assert!(
        hit["items"][0]["snippet"]
            .as_str()
            .unwrap()
            .contains("[zucchini]"),
        "{hit}"
    );

    // Filters.
    let count = |query: &'static str| {
        let api = &api;
        async move { all_posts(api, query, 200).await.len() }
    };
    assert_eq!(count("platform=feed").await, TOTAL_POSTS);
    assert_eq!(count("platform=bluesky").await, 0);
    assert_eq!(
        search("kind=video").await,
        ["Fixing a 1970s radio", "Tuning a valve amplifier"]
    );
    assert_eq!(search("kind=audio").await, ["Episode one"]);
    assert_eq!(count("kind=article").await, 7);
    assert_eq!(count("kind=post").await, 4);
    assert_eq!(
        search("since=2024-04-01&until=2024-04-30").await,
        ["Fixing a 1970s radio", "Tuning a valve amplifier"]
    );
    // `until` takes the whole day.
    assert_eq!(search("until=2024-01-14").await, ["Seed catalogue season"]);
    assert_eq!(
        search("since=2024-01-15T09:30:00Z&until=2024-01-15T09:30:01Z").await,
        ["Tomatoes & the first frost’s lesson"]
    );
    // Undated posts sit where they were first seen (now), so they count as recent.
    assert_eq!(
        search("since=2024-07-01").await,
        [
            "(untitled)",
            "Careful with this one",
            "Episode one",
            "Relative link",
            "Undated musing"
        ]
    );
    let with_media = all_posts(&api, "has_media=1", 200).await;
    assert_eq!(with_media.len(), 7, "{:?}", titles(&with_media));
    assert!(with_media.iter().all(|p| p["has_media"] == true));
    assert_eq!(
        search("kind=article&has_media=1").await,
        [
            "Rain, finally",
            "Tomatoes & the first frost’s lesson",
            "Why I Back Up Everything"
        ]
    );
    assert_eq!(
        search("q=frost&kind=article&until=2024-02-01").await,
        ["Tomatoes & the first frost’s lesson"]
    );
    let bad = api.get("/api/v1/posts?since=yesterday").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"], "bad_request");
    let bad = api.get("/api/v1/posts?cursor=garbage").await;
    assert_eq!(bad.status, 400);

    // Keyset paging: two at a time, every post exactly once, in the same order.
    let one_page = all_posts(&api, "", 200).await;
    assert_eq!(one_page.len(), TOTAL_POSTS);
    let paged = all_posts(&api, "", 2).await;
    assert_eq!(ids(&paged), ids(&one_page));
    let unique: HashSet<i64> = ids(&paged).into_iter().collect();
    assert_eq!(unique.len(), TOTAL_POSTS);
    // The same for a filtered timeline and for ranked search results.
    assert_eq!(
        ids(&all_posts(&api, "has_media=1", 2).await),
        ids(&with_media)
    );
    let ranked = all_posts(&api, "q=the", 200).await;
    assert!(ranked.len() >= 4, "{:?}", titles(&ranked));
    assert_eq!(ids(&all_posts(&api, "q=the", 1).await), ids(&ranked));
    assert_eq!(
        ids(&all_posts(&api, "q=t*", 2).await),
        ids(&all_posts(&api, "q=t*", 200).await)
    );
}

#[tokio::test]
async fn the_archive_highlights_hits_and_post_pages_are_sanitized() {
    let (env, _feeds) = synced_archive();
    let api = env.api();
    let browser = env.server().browser();
    browser.login_ok("alice", ALICE_PASSWORD).await;

    let page = browser.get("/archive?q=zucchini").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.body.matches(r#"<article class="post card">"#).count(),
        1,
        "{}",
        page.body
    );
    assert!(page.body.contains("<mark>zucchini</mark>"), "{}", page.body);
    assert!(page.body.contains("Careful with this one"));
    let phrase = browser.get("/archive?q=%22first+frost%22").await;
    assert_eq!(
        phrase
            .body
            .matches(r#"<article class="post card">"#)
            .count(),
        1
    );
    assert!(phrase.body.contains("<mark>"), "{}", phrase.body);
    let marked: Vec<&str> = phrase
        .body
        .split("<mark>")
        .skip(1)
        .map(|s| s.split("</mark>").next().unwrap())
        .collect();
    assert!(
        marked
            .iter()
            .all(|m| ["first", "frost", "first frost"].contains(&m.to_lowercase().as_str())),
        "{marked:?}"
    );
    // A search with no hits says so; the plain timeline marks nothing.
    let none = browser.get("/archive?q=kohlrabi").await;
    assert!(none.body.contains("Nothing matches that search."));
    let timeline = browser.get("/archive").await;
    assert_eq!(
        timeline
            .body
            .matches(r#"<article class="post card">"#)
            .count(),
        TOTAL_POSTS
    );
    assert!(!timeline.body.contains("<mark>"));
    // Filters in the page's form work the same.
    let videos = browser.get("/archive?kind=video").await;
    assert_eq!(
        videos
            .body
            .matches(r#"<article class="post card">"#)
            .count(),
        2
    );

    // The post whose HTML tries to run code.
    let posts = all_posts(&api, "", 200).await;
    let careful = by_title(&posts, "Careful with this one");
    let post = browser.get(&format!("/posts/{}", careful["id"])).await;
    assert_eq!(post.status, 200);
    assert!(
        !post.body.contains("<script>alert(1)</script>"),
        "{}",
        post.body
    );
    for tag in tags(&post.body) {
        let lower = tag.to_ascii_lowercase();
        assert!(!lower.contains("onclick"), "event handler in {tag}");
        assert!(!lower.contains("javascript:"), "script URL in {tag}");
        assert!(
            !lower.starts_with("<script") || lower.contains(" src=\"/static/"),
            "script {tag}"
        );
    }
    let body = post
        .body
        .split(r#"<div class="body">"#)
        .nth(1)
        .and_then(|rest| rest.split("</div>").next())
        .unwrap_or_else(|| panic!("no body div:\n{}", post.body));
    assert!(body.contains("Harmless words about zucchini."), "{body}");
    assert!(body.contains("More zucchini."), "{body}");
    assert!(!body.contains("alert"), "{body}");
    assert!(!body.contains("onclick"), "{body}");
    // The raw payload is shown, escaped.
    assert!(
        post.body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{}",
        post.body
    );
    // The page forbids inline script regardless.
    let csp = post.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");

    // A post page shows its images from the archive, not from the platform.
    let tomatoes = by_title(&posts, "Tomatoes & the first frost’s lesson");
    let page = browser.get(&format!("/posts/{}", tomatoes["id"])).await;
    let full = get_json(&api, &format!("/api/v1/posts/{}", tomatoes["id"])).await;
    for m in full["media"].as_array().unwrap() {
        assert!(
            page.body.contains(&format!(r#"src="/media/{}""#, m["id"])),
            "{}",
            page.body
        );
    }
    let file = browser
        .get(&format!("/media/{}", full["media"][0]["id"]))
        .await;
    assert_eq!(file.status, 200);
    assert_eq!(file.content_type(), "image/png");
    assert_eq!(file.headers["x-content-type-options"], "nosniff");
}

/// Every tag (`<...>`) of an HTML page, as written.
fn tags(html: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .map_or(rest.len(), |e| start + e + 1);
        found.push(&rest[start..end]);
        rest = &rest[end..];
    }
    found
}

// ---- people ------------------------------------------------------------------------------

#[tokio::test]
async fn another_user_cannot_reach_posts_media_or_connections() {
    let (env, feeds) = synced_archive();
    add_user(env.dir(), "bob", BOB_PASSWORD, false);
    let bob_key = api_key(env.dir(), "bob");
    let alice = env.api();
    let bob = env.server().api(&bob_key);

    let posts = all_posts(&alice, "", 200).await;
    let mut media_ids = Vec::new();
    for post in &posts {
        let full = get_json(&alice, &format!("/api/v1/posts/{}", post["id"])).await;
        media_ids.extend(
            full["media"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_i64().unwrap()),
        );
    }
    assert_eq!(media_ids.len(), TOTAL_FILES);

    assert_eq!(get_json(&bob, "/api/v1/posts").await["items"], json!([]));
    assert_eq!(
        get_json(&bob, "/api/v1/posts?q=zucchini").await["items"],
        json!([])
    );
    assert_eq!(
        get_json(&bob, "/api/v1/connections").await["items"],
        json!([])
    );
    for post in &posts {
        let page = bob.get(&format!("/api/v1/posts/{}", post["id"])).await;
        assert_eq!(page.status, 404, "{}", page.body);
        assert_eq!(page.json()["error"], "not_found");
    }
    for id in &media_ids {
        let page = bob.get(&format!("/api/v1/media/{id}")).await;
        assert_eq!(page.status, 404, "media {id}: {}", page.body);
        assert!(!page.body.contains("PNG"));
    }
    let page = bob
        .get(&format!("/api/v1/connections/{}", feeds.wordpress))
        .await;
    assert_eq!(page.status, 404);
    let page = bob
        .get(&format!(
            "/api/v1/connections/{}/sync_logs",
            feeds.wordpress
        ))
        .await;
    assert_eq!(page.status, 404);
    let page = bob
        .post_json(
            &format!("/api/v1/connections/{}/sync", feeds.wordpress),
            &json!({}),
        )
        .await;
    assert_eq!(page.status, 404);
    let queue = get_json(&bob, "/api/v1/queue").await;
    assert!(
        queue["stages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["pending"] == 0
                && s["failed"] == 0
                && s["dead_letter"] == 0
                && (s["stage"] != "media" || s["completed"] == 0)),
        "{queue}"
    );

    // The pages too.
    let browser = env.server().browser();
    browser.login_ok("bob", BOB_PASSWORD).await;
    assert_eq!(
        browser
            .get(&format!("/posts/{}", posts[0]["id"]))
            .await
            .status,
        404
    );
    assert_eq!(
        browser
            .get(&format!("/media/{}", media_ids[0]))
            .await
            .status,
        404
    );
    assert_eq!(
        browser
            .get(&format!("/connections/{}", feeds.wordpress))
            .await
            .status,
        404
    );
    let archive = browser.get("/archive?q=zucchini").await;
    assert!(!archive.body.contains("Careful with this one"));

    // While alice still sees all of it.
    assert_eq!(
        alice
            .get(&format!("/api/v1/media/{}", media_ids[0]))
            .await
            .status,
        200
    );
}

// ---- the archive's own integrity ---------------------------------------------------------

#[tokio::test]
async fn verify_notices_altered_and_missing_files() {
    let (env, _feeds) = synced_archive();
    let api = env.api();
    let out = cli_ok(env.dir(), &["verify"], None);
    assert_eq!(
        out,
        format!("{TOTAL_FILES} files checked, 0 missing, 0 altered")
    );

    let posts = all_posts(&api, "", 200).await;
    let base = env.site.base.clone();
    let stored = |path: &str| {
        format!(
            "1/feed/{}.png",
            sha256_hex(format!("{base}{path}").as_bytes())
        )
    };
    let altered = stored("/media/rain.png");
    let missing = stored("/system/media_attachments/files/112/458/734/original/f00d.png");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(env.media_dir().join(&altered))
        .expect("stored file");
    std::io::Write::write_all(&mut file, b"\0").unwrap();
    drop(file);
    let out = cli(env.dir(), &["verify"], None);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("altered  {altered}\n{TOTAL_FILES} files checked, 0 missing, 1 altered\n")
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: 1 stored files are missing or altered\n"
    );

    std::fs::remove_file(env.media_dir().join(&missing)).unwrap();
    let out = cli(env.dir(), &["verify"], None);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "missing  {missing}\naltered  {altered}\n{TOTAL_FILES} files checked, 1 missing, 1 altered\n"
        )
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: 2 stored files are missing or altered\n"
    );
    // The posts themselves are untouched.
    assert_eq!(all_posts(&api, "", 200).await, posts);
}

#[tokio::test]
async fn reprocess_keeps_every_post_and_its_id() {
    let (env, feeds) = synced_archive();
    let api = env.api();
    let before = all_posts(&api, "", 200).await;
    let media_before = env.query_i64("SELECT COUNT(*) FROM media");
    let links_before = env.query_i64("SELECT COUNT(*) FROM post_media");

    let out = cli_ok(env.dir(), &["reprocess"], None);
    let after = all_posts(&api, "", 200).await;
    assert_eq!(after, before, "reprocess changed the archive");
    assert_eq!(env.query_i64("SELECT COUNT(*) FROM media"), media_before);
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM post_media"),
        links_before
    );
    assert_eq!(
        env.query_i64("SELECT COUNT(*) FROM ingested_posts WHERE status != 'completed'"),
        0
    );
    // One connection at a time works too.
    let out_odd = cli_ok(
        env.dir(),
        &["reprocess", "--connection", &feeds.odd.to_string()],
        None,
    );
    assert_eq!(all_posts(&api, "", 200).await, before);
    // Nothing was downloaded again.
    for path in env.files.files.keys() {
        assert!(env.site.seen_for(path).len() <= 1, "{path} fetched again");
    }
    assert_eq!(
        cli_ok(env.dir(), &["verify"], None),
        format!("{TOTAL_FILES} files checked, 0 missing, 0 altered")
    );
    // What it says it did: each raw item and each raw post once.
    assert_eq!(
        out,
        format!("reprocessed: 6 raw items split again, {TOTAL_POSTS} raw posts normalized again")
    );
    assert_eq!(
        out_odd,
        "reprocessed: 1 raw items split again, 5 raw posts normalized again"
    );
}

#[tokio::test]
async fn reprocess_leaves_the_sync_history_alone() {
    let (env, feeds) = synced_archive();
    let api = env.api();
    // Two versions of the WordPress feed are on record: the edit must survive reprocessing.
    env.site.route(
        "/blog/feed/",
        Route::ok(
            "application/rss+xml; charset=UTF-8",
            wordpress_rss(&env.site.base, true),
        ),
    );
    assert!(
        env.sync_ok(feeds.wordpress)
            .contains("fetched 3 posts · 1 created · 1 updated")
    );
    let posts = all_posts(&api, "", 200).await;
    let path = format!("/api/v1/connections/{}/sync_logs", feeds.wordpress);
    let before = get_json(&api, &path).await;
    cli_ok(env.dir(), &["reprocess"], None);
    assert_eq!(all_posts(&api, "", 200).await, posts);
    let after = get_json(&api, &path).await;
    // A sync log says what that sync fetched and changed; rebuilding posts later from the
    // raw data is neither.
    for (i, (b, a)) in before["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(after["items"].as_array().unwrap())
        .enumerate()
    {
        for field in ["posts_fetched", "posts_created", "posts_updated"] {
            assert_eq!(a[field], b[field], "{field} of sync log #{i}: {a}");
        }
    }
    assert_eq!(after, before);
}
