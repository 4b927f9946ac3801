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
