//! Lifeboat: rescue a person's data from online platforms before they die.
//!
//! Data flows one way: connector or importer → `ingested_items` → `ingested_posts` →
//! `posts` + `media` → pages. See DESIGN.md.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connect;
pub mod connectors;
pub mod db;
pub mod emergency;
pub mod health;
pub mod import;
pub mod importers;
pub mod ingest;
pub mod media;
pub mod oauth;
pub mod owner;
pub mod platform;
pub mod scheduler;
pub mod sync;
mod text;
pub mod time;
pub mod vault;
pub mod web;
pub mod workers;

/// mimalloc instead of the system allocator: the pipeline allocates and frees millions of
/// small strings, and glibc's malloc spent a tenth of the writer's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_e` (libmimalloc-sys names only the
/// options of older versions).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system after 50 ms instead of mimalloc's default second:
/// an import frees its batches as fast as it makes them, and with the default delay the
/// process holds on to a few dozen megabytes it no longer uses. `MIMALLOC_PURGE_DELAY`
/// still decides when set.
pub fn tune_allocator() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets a number in mimalloc's option table; any value is valid.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 50) };
    }
}

#[cfg(test)]
mod allocator_tests {
    #[test]
    fn the_purge_delay_option_is_the_one_we_think() {
        // mimalloc 3's default purge delay is 1000 ms; no option next to it has that
        // default, so a different numbering would show here.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads a number from mimalloc's option table.
            let delay = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
            assert!(delay == 1000 || delay == 50, "purge delay reads {delay}");
        }
    }
}
