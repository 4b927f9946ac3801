//! A fake web site for the suites: canned answers per path, conditional GET (ETag and
//! Last-Modified, 304), optional slowness and chunked bodies, and a record of every
//! request, on 127.0.0.1:0 with its own thread and runtime.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One canned answer. With validators, a request that sends them back gets a 304.
#[derive(Clone, Debug)]
pub struct Route {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    etag: Option<String>,
    last_modified: Option<String>,
    /// Sent without Content-Length, in pieces (as a streaming server does).
    chunked: bool,
    /// How long the server thinks before answering (a slow platform).
    delay: Duration,
}

impl Route {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Route {
        Route {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            etag: None,
            last_modified: None,
            chunked: false,
            delay: Duration::ZERO,
        }
    }

    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Route {
        Route::new(200, content_type, body)
    }

    pub fn png(bytes: &[u8]) -> Route {
        Route::ok("image/png", bytes.to_vec())
    }

    pub fn header(mut self, name: &str, value: &str) -> Route {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn validators(mut self, etag: &str, last_modified: &str) -> Route {
        self.etag = Some(etag.into());
        self.last_modified = Some(last_modified.into());
        self
    }

    pub fn chunked(mut self) -> Route {
        self.chunked = true;
        self
    }

    /// An ETag alone (no Last-Modified).
    pub fn etag(mut self, etag: &str) -> Route {
        self.etag = Some(etag.into());
        self
    }

    pub fn delay(mut self, delay: Duration) -> Route {
        self.delay = delay;
        self
    }
}

/// A request the fake server received, and what it answered.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub status: u16,
}

#[derive(Default)]
struct SiteState {
    routes: HashMap<String, Route>,
    seen: Vec<Seen>,
}

/// A web site on 127.0.0.1:0, on its own thread and runtime. Routes match the path and
/// query first, then the path alone; anything else is a 404.
pub struct Site {
    pub addr: SocketAddr,
    pub base: String,
    state: Arc<Mutex<SiteState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Site {
    pub fn start() -> Site {
        let state = Arc::new(Mutex::new(SiteState::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind fake site");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("fake site address");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("fake site runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app =
                    axum::Router::new().fallback(move |request| answer(shared.clone(), request));
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .expect("fake site");
            });
        });
        Site {
            addr,
            base: format!("http://{addr}"),
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn route(&self, path: &str, route: Route) {
        self.state
            .lock()
            .unwrap()
            .routes
            .insert(path.to_string(), route);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests for `path` (path and query as sent).
    pub fn seen_for(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    /// How many requests asked for `path`, whatever their query.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path.split('?').next() == Some(path))
            .count()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn answer(
    state: Arc<Mutex<SiteState>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::body::Body;
    use axum::http::StatusCode;

    let path = request.uri().path().to_string();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let headers: HashMap<String, String> = request
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let route = {
        let s = state.lock().unwrap();
        s.routes
            .get(&path_and_query)
            .or_else(|| s.routes.get(&path))
            .cloned()
    };
    let mut builder = axum::http::Response::builder();
    let (status, body) = match route {
        None => (404, Body::from("no such page")),
        Some(route) => {
            if !route.delay.is_zero() {
                tokio::time::sleep(route.delay).await;
            }
            // RFC 9110: If-None-Match wins; If-Modified-Since counts only without it.
            let not_modified = route.status == 200
                && match headers.get("if-none-match") {
                    Some(sent) => route.etag.as_deref() == Some(sent.as_str()),
                    None => headers
                        .get("if-modified-since")
                        .is_some_and(|sent| route.last_modified.as_deref() == Some(sent.as_str())),
                };
            if let Some(etag) = &route.etag {
                builder = builder.header("etag", etag);
            }
            if let Some(lm) = &route.last_modified {
                builder = builder.header("last-modified", lm);
            }
            if not_modified {
                (304, Body::empty())
            } else {
                for (name, value) in &route.headers {
                    builder = builder.header(name, value);
                }
                let body = if route.chunked {
                    let pieces: Vec<Result<Vec<u8>, std::io::Error>> = route
                        .body
                        .chunks(64 * 1024)
                        .map(|c| Ok(c.to_vec()))
                        .collect();
                    Body::from_stream(futures_util::stream::iter(pieces))
                } else {
                    Body::from(route.body)
                };
                (route.status, body)
            }
        }
    };
    state.lock().unwrap().seen.push(Seen {
        path: path_and_query,
        headers,
        status,
    });
    builder
        .status(StatusCode::from_u16(status).unwrap())
        .body(body)
        .unwrap()
}
