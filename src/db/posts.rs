//! The normalized timeline: upserts from the pipeline, and the archive's queries
//! (keyset-paged timeline, ranked full-text search, one post with its media).

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use serde::Serialize;

use crate::connectors::NewPost;

#[derive(Debug, Clone, Serialize)]
pub struct Post {
    pub id: i64,
    pub connection_id: i64,
    pub ingested_post_id: i64,
    pub platform: String,
    pub platform_post_id: String,
    pub kind: String,
    pub author: Option<String>,
    pub title: Option<String>,
    pub text: String,
    pub html: Option<String>,
    pub url: Option<String>,
    pub created_at_platform: Option<i64>,
    pub sort_at: i64,
    pub engagement: Option<String>,
    pub reply_to: Option<String>,
    pub repost_of: Option<String>,
    pub has_media: bool,
    /// Search only: the matching passage, HTML-escaped, hits wrapped in <mark>.
    pub snippet: Option<String>,
    /// Search only: bm25 score (lower is better); part of the search cursor.
    pub score: Option<f64>,
}

const COLUMNS: &str = "p.id, p.connection_id, p.ingested_post_id, p.platform, p.platform_post_id,
    p.kind, p.author, p.title, p.text, p.html, p.url, p.created_at_platform, p.sort_at,
    p.engagement, p.reply_to, p.repost_of, p.has_media";

fn from_row(r: &Row) -> rusqlite::Result<Post> {
    Ok(Post {
        id: r.get(0)?,
        connection_id: r.get(1)?,
        ingested_post_id: r.get(2)?,
        platform: r.get(3)?,
        platform_post_id: r.get(4)?,
        kind: r.get(5)?,
        author: r.get(6)?,
        title: r.get(7)?,
        text: r.get(8)?,
        html: r.get(9)?,
        url: r.get(10)?,
        created_at_platform: r.get(11)?,
        sort_at: r.get(12)?,
        engagement: r.get(13)?,
        reply_to: r.get(14)?,
        repost_of: r.get(15)?,
        has_media: r.get(16)?,
        snippet: None,
        score: None,
    })
}

pub struct PostKey<'a> {
    pub user_id: i64,
    pub connection_id: i64,
    pub ingested_post_id: i64,
    pub platform: &'a str,
    pub platform_post_id: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created(i64),
    Updated(i64),
    Unchanged(i64),
}

impl Upserted {
    pub fn id(self) -> i64 {
        match self {
            Upserted::Created(id) | Upserted::Updated(id) | Upserted::Unchanged(id) => id,
        }
    }
}

/// New posts waiting to enter the full-text index, written by `SearchIndex::flush` at the
/// end of the transaction. FTS5 keeps pending rows in memory until a commit, but flushes
/// them to disk at every statement savepoint, and upserts open one per statement; written
/// last, a whole batch is indexed in one go (several times faster for big imports).
#[derive(Default)]
pub struct SearchIndex(Vec<(i64, Option<String>, String, Option<String>)>);

impl SearchIndex {
    fn push(&mut self, row: (i64, Option<String>, String, Option<String>)) {
        self.0.push(row);
    }

    /// Call before committing the transaction that created the posts.
    pub fn flush(&mut self, conn: &Connection) -> rusqlite::Result<()> {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO posts_fts (rowid, title, text, author) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (id, title, text, author) in self.0.drain(..) {
            stmt.execute(params![id, title, text, author])?;
        }
        Ok(())
    }
}

/// Inserts a normalized post, or updates it when the normalizer now says something else.
/// A post without a platform date takes its place on the timeline from `now`. A new post
/// joins `search_index`, which the caller flushes before committing. `engagement` is the
/// post's engagement as JSON text (the caller serializes it, off the write lock).
pub fn upsert(
    conn: &Connection,
    search_index: &mut SearchIndex,
    key: &PostKey,
    post: &NewPost,
    engagement: Option<&str>,
    now: i64,
) -> rusqlite::Result<Upserted> {
    let has_media = !post.media.is_empty();
    let sort_at = post.created_at.unwrap_or(now);
    let inserted = conn
        .prepare_cached(
            "INSERT INTO posts (user_id, connection_id, ingested_post_id, platform, platform_post_id,
                 kind, author, title, text, html, url, created_at_platform, sort_at, engagement,
                 reply_to, repost_of, has_media, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18)
             ON CONFLICT (connection_id, platform_post_id) DO NOTHING",
        )?
        .execute(params![
            key.user_id,
            key.connection_id,
            key.ingested_post_id,
            key.platform,
            key.platform_post_id,
            post.kind,
            post.author,
            post.title,
            post.text,
            post.html,
            post.url,
            post.created_at,
            sort_at,
            engagement,
            post.reply_to,
            post.repost_of,
            has_media,
            now
        ])?;
    if inserted == 1 {
        let id = conn.last_insert_rowid();
        search_index.push((
            id,
            post.title.clone(),
            post.text.clone(),
            post.author.clone(),
        ));
        return Ok(Upserted::Created(id));
    }
    // The update trigger rewrites the post's FTS row, which must exist by then.
    search_index.flush(conn)?;
    // Already there: rewrite it only if the normalizer now says something else. An undated
    // post keeps its first-seen place, so a re-sync does not move it on the timeline.
    let updated = conn
        .prepare_cached(
            "UPDATE posts SET ingested_post_id = ?3, kind = ?4, author = ?5, title = ?6, text = ?7,
                 html = ?8, url = ?9, created_at_platform = ?10, sort_at = COALESCE(?10, sort_at),
                 engagement = ?11, reply_to = ?12, repost_of = ?13, has_media = ?14, updated_at = ?15
             WHERE connection_id = ?1 AND platform_post_id = ?2
               AND (kind, author, title, text, html, url, created_at_platform, engagement,
                    reply_to, repost_of, has_media)
                   IS NOT (?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             RETURNING id",
        )?
        .query_row(
            params![
                key.connection_id,
                key.platform_post_id,
                key.ingested_post_id,
                post.kind,
                post.author,
                post.title,
                post.text,
                post.html,
                post.url,
                post.created_at,
                engagement,
                post.reply_to,
                post.repost_of,
                has_media,
                now
            ],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = updated {
        return Ok(Upserted::Updated(id));
    }
    let id = conn
        .prepare_cached("SELECT id FROM posts WHERE connection_id = ?1 AND platform_post_id = ?2")?
        .query_row(params![key.connection_id, key.platform_post_id], |r| {
            r.get(0)
        })?;
    Ok(Upserted::Unchanged(id))
}

/// What the archive asks for. Every query is scoped to one user.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub user_id: i64,
    pub connection_id: Option<i64>,
    pub platform: Option<String>,
    pub kind: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub has_media: bool,
    /// Full-text query as a person typed it.
    pub query: Option<String>,
    pub after: Option<Cursor>,
    pub limit: usize,
}

/// Keyset position: the last row of the previous page.
#[derive(Debug, Clone, PartialEq)]
pub enum Cursor {
    Timeline {
        sort_at: i64,
        id: i64,
    },
    /// Search results come in windows of `RANK_WINDOW` matches, newest first, each ranked
    /// by relevance: `top` is the highest FTS rowid of the window, `after` the last
    /// (score, id) seen in it (None: the window's first page).
    Search {
        top: i64,
        after: Option<(f64, i64)>,
    },
}

impl Cursor {
    pub fn encode(&self) -> String {
        match self {
            Cursor::Timeline { sort_at, id } => format!("t{sort_at}_{id}"),
            Cursor::Search { top, after: None } => format!("w{top}"),
            Cursor::Search {
                top,
                after: Some((score, id)),
            } => format!("s{top}_{score:e}_{id}"),
        }
    }

    pub fn decode(text: &str) -> Option<Cursor> {
        let (kind, rest) = text.split_at_checked(1)?;
        let parts: Vec<&str> = rest.split('_').collect();
        match (kind, parts.as_slice()) {
            ("t", [sort_at, id]) => Some(Cursor::Timeline {
                sort_at: sort_at.parse().ok()?,
                id: id.parse().ok()?,
            }),
            ("w", [top]) => Some(Cursor::Search {
                top: top.parse().ok()?,
                after: None,
            }),
            ("s", [top, score, id]) => Some(Cursor::Search {
                top: top.parse().ok()?,
                after: Some((score.parse().ok()?, id.parse().ok()?)),
            }),
            _ => None,
        }
    }
}

/// Hit markers the snippet function wraps around matches; private-use characters, so
/// the text can be HTML-escaped first and the markers turned into <mark> after.
pub const MARK_START: char = '\u{E000}';
pub const MARK_END: char = '\u{E001}';

/// Ranking a search computes bm25 for every match, which for a word in most posts of a
/// million-post archive takes a second. So results come in windows of this many matches,
/// newest archived first, each window ranked by relevance; paging walks through all of
/// them. Bounded cost, and nothing is out of reach.
pub const RANK_WINDOW: i64 = 2000;

/// One page of the timeline or of search results. Returns the posts and, when there may
/// be more, the cursor of the next page.
pub fn list(conn: &Connection, filter: &Filter) -> rusqlite::Result<(Vec<Post>, Option<Cursor>)> {
    let limit = filter.limit.clamp(1, 200);
    match filter.query.as_deref().and_then(fts_query) {
        Some(q) => search(conn, filter, &q, limit),
        None => timeline(conn, filter, limit),
    }
}

fn timeline(
    conn: &Connection,
    filter: &Filter,
    limit: usize,
) -> rusqlite::Result<(Vec<Post>, Option<Cursor>)> {
    let (filters, mut args) = filter_clause(filter);
    let mut sql = format!("SELECT {COLUMNS} FROM posts p WHERE 1 {filters}");
    if let Some(Cursor::Timeline { sort_at, id }) = &filter.after {
        sql.push_str(" AND (p.sort_at, p.id) < (?, ?)");
        args.extend([(*sort_at).into(), (*id).into()]);
    }
    sql.push_str(" ORDER BY p.sort_at DESC, p.id DESC LIMIT ?");
    args.push(((limit + 1) as i64).into());
    let mut posts: Vec<Post> = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), from_row)?
        .collect::<rusqlite::Result<_>>()?;
    let next = (posts.len() > limit).then(|| {
        posts.truncate(limit);
        let last = &posts[limit - 1];
        Cursor::Timeline {
            sort_at: last.sort_at,
            id: last.id,
        }
    });
    Ok((posts, next))
}

fn search(
    conn: &Connection,
    filter: &Filter,
    q: &str,
    limit: usize,
) -> rusqlite::Result<(Vec<Post>, Option<Cursor>)> {
    let (filters, filter_args) = filter_clause(filter);
    let (top, after) = match &filter.after {
        Some(Cursor::Search { top, after }) => (*top, *after),
        _ => (i64::MAX, None),
    };
    // The window: matches at or below `top`, down to the RANK_WINDOW-th newest of them.
    let window = format!(
        "SELECT posts_fts.rowid FROM posts_fts JOIN posts p ON p.id = posts_fts.rowid
         WHERE posts_fts MATCH ? AND posts_fts.rowid <= ? {filters}
         ORDER BY posts_fts.rowid DESC LIMIT 1 OFFSET {}",
        RANK_WINDOW - 1
    );
    let mut args: Vec<SqlValue> = vec![q.to_string().into(), top.into()];
    args.extend(filter_args.iter().cloned());
    let floor: Option<i64> = conn
        .prepare_cached(&window)?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))
        .optional()?;
    let mut sql = format!(
        "SELECT {COLUMNS}, snippet(posts_fts, -1, '{MARK_START}', '{MARK_END}', '…', 24),
                bm25(posts_fts, 5.0, 1.0, 2.0) AS score
         FROM posts_fts JOIN posts p ON p.id = posts_fts.rowid
         WHERE posts_fts MATCH ? AND posts_fts.rowid <= ? {filters}
           AND posts_fts.rowid >= ?"
    );
    args.push(floor.unwrap_or(i64::MIN).into());
    if let Some((score, id)) = after {
        sql.push_str(" AND (score > ? OR (score = ? AND p.id > ?))");
        args.extend([score.into(), score.into(), id.into()]);
    }
    sql.push_str(" ORDER BY score, p.id LIMIT ?");
    args.push(((limit + 1) as i64).into());
    let mut posts: Vec<Post> = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args), |r| {
            let mut post = from_row(r)?;
            post.snippet = r.get(17)?;
            post.score = r.get(18)?;
            Ok(post)
        })?
        .collect::<rusqlite::Result<_>>()?;
    let next = if posts.len() > limit {
        posts.truncate(limit);
        let last = &posts[limit - 1];
        Some(Cursor::Search {
            top,
            after: Some((last.score.unwrap_or_default(), last.id)),
        })
    } else {
        // This window is done; older matches, if any, form the next one.
        floor.map(|floor| Cursor::Search {
            top: floor - 1,
            after: None,
        })
    };
    Ok((posts, next))
}

/// The filter's conditions on `posts p` (always scoped to the user) and their arguments.
fn filter_clause(filter: &Filter) -> (String, Vec<SqlValue>) {
    let mut sql = String::from(" AND p.user_id = ?");
    let mut args: Vec<SqlValue> = vec![filter.user_id.into()];
    if let Some(connection_id) = filter.connection_id {
        sql.push_str(" AND p.connection_id = ?");
        args.push(connection_id.into());
    }
    if let Some(platform) = &filter.platform {
        sql.push_str(" AND p.platform = ?");
        args.push(platform.clone().into());
    }
    if let Some(kind) = &filter.kind {
        sql.push_str(" AND p.kind = ?");
        args.push(kind.clone().into());
    }
    if let Some(since) = filter.since {
        sql.push_str(" AND p.sort_at >= ?");
        args.push(since.into());
    }
    if let Some(until) = filter.until {
        sql.push_str(" AND p.sort_at < ?");
        args.push(until.into());
    }
    if filter.has_media {
        sql.push_str(" AND p.has_media = 1");
    }
    (sql, args)
}

/// Turns what a person typed into a safe FTS5 query: words must all match, "quoted
/// phrases" match as phrases, a trailing * matches a prefix. FTS5 operators and stray
/// punctuation cannot cause a syntax error.
pub fn fts_query(input: &str) -> Option<String> {
    let mut terms = Vec::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        if let Some(after_quote) = rest.strip_prefix('"') {
            let (phrase, tail) = after_quote.split_once('"').unwrap_or((after_quote, ""));
            let words: Vec<&str> = phrase
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .collect();
            if !words.is_empty() {
                terms.push(format!("\"{}\"", words.join(" ")));
            }
            rest = tail.trim_start();
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let (token, tail) = rest.split_at(end);
        let prefix = token.ends_with('*');
        for word in token
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            terms.push(format!("\"{word}\""));
        }
        if prefix && let Some(last) = terms.last_mut() {
            last.push('*');
        }
        rest = tail.trim_start();
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// One post, only if it belongs to `user_id`.
pub fn for_user_by_id(conn: &Connection, user_id: i64, id: i64) -> rusqlite::Result<Option<Post>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM posts p WHERE p.id = ?1 AND p.user_id = ?2"),
        params![id, user_id],
        from_row,
    )
    .optional()
}

/// The distinct kinds and platforms a user has, for the archive's filter menus.
pub fn facets(conn: &Connection, user_id: i64) -> rusqlite::Result<(Vec<String>, Vec<String>)> {
    let collect = |sql: &str| -> rusqlite::Result<Vec<String>> {
        conn.prepare_cached(sql)?
            .query_map([user_id], |r| r.get(0))?
            .collect()
    };
    Ok((
        collect("SELECT DISTINCT platform FROM posts WHERE user_id = ?1 ORDER BY 1")?,
        collect("SELECT DISTINCT kind FROM posts WHERE user_id = ?1 ORDER BY 1")?,
    ))
}

pub fn count_for_connection(conn: &Connection, connection_id: i64) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM posts WHERE connection_id = ?1",
        [connection_id],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fts_queries_are_always_valid() {
        assert_eq!(fts_query("hello world").unwrap(), "\"hello\" \"world\"");
        assert_eq!(
            fts_query("\"exact phrase\" more").unwrap(),
            "\"exact phrase\" \"more\""
        );
        assert_eq!(fts_query("life*").unwrap(), "\"life\"*");
        assert_eq!(
            fts_query("AND OR NOT ( ) ^ :").unwrap(),
            "\"AND\" \"OR\" \"NOT\""
        );
        assert_eq!(
            fts_query("\"unclosed phrase").unwrap(),
            "\"unclosed phrase\""
        );
        assert_eq!(fts_query("e-mail").unwrap(), "\"e\" \"mail\"");
        assert!(fts_query("  ** \"\" ").is_none());
    }

    #[test]
    fn cursors_round_trip() {
        for c in [
            Cursor::Timeline {
                sort_at: 1_700_000_000,
                id: 42,
            },
            Cursor::Search {
                top: 99,
                after: Some((-3.25e-6, 7)),
            },
            Cursor::Search {
                top: i64::MAX,
                after: None,
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        assert_eq!(Cursor::decode("garbage"), None);
        assert_eq!(Cursor::decode(""), None);
    }
}
