//! A fake web site for the suites: canned answers per path, handlers that compute an
//! answer from the request (a fake platform API), conditional GET (ETag and
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

    /// A JSON answer with this status.
    pub fn json(status: u16, value: &serde_json::Value) -> Route {
        Route::new(status, "application/json", value.to_string())
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
    pub method: String,
    /// Path and query, as sent.
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    pub status: u16,
}

/// A request as a handler sees it.
#[derive(Clone, Debug)]
pub struct Req {
    pub method: String,
    pub path: String,
    /// Query parameters, decoded; a repeated name keeps its last value.
    pub query: HashMap<String, String>,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Req {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// The form body (application/x-www-form-urlencoded), decoded.
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The token of an `Authorization: Bearer` header.
    pub fn bearer(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
    }
}

type Handler = Arc<dyn Fn(&Req) -> Route + Send + Sync>;

#[derive(Default)]
struct SiteState {
    routes: HashMap<String, Route>,
    handlers: HashMap<String, Handler>,
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

    /// Answers every request for `path` (any method, any query) with what `handler`
    /// makes of it. Canned routes for the exact path and query still win.
    pub fn handle(&self, path: &str, handler: impl Fn(&Req) -> Route + Send + Sync + 'static) {
        self.state
            .lock()
            .unwrap()
            .handlers
            .insert(path.to_string(), Arc::new(handler));
    }

    /// Forgets the requests seen so far (to count one sync's requests).
    pub fn clear_seen(&self) {
        self.state.lock().unwrap().seen.clear();
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
    let method = request.method().to_string();
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let body = axum::body::to_bytes(request.into_body(), 64 * 1024 * 1024)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let (exact, handler) = {
        let s = state.lock().unwrap();
        (
            s.routes.get(&path_and_query).cloned(),
            s.handlers.get(&path).cloned(),
        )
    };
    let route = match (exact, handler) {
        (Some(route), _) => Some(route),
        (None, Some(handler)) => {
            let req = Req {
                method: method.clone(),
                path: path.clone(),
                query,
                headers: headers.clone(),
                body: body.clone(),
            };
            Some(handler(&req))
        }
        (None, None) => state.lock().unwrap().routes.get(&path).cloned(),
    };
    let mut builder = axum::http::Response::builder();
    let request_body = body;
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
        method,
        path: path_and_query,
        headers,
        body: request_body,
        status,
    });
    builder
        .status(StatusCode::from_u16(status).unwrap())
        .body(body)
        .unwrap()
}
