//! The harness every integration suite shares: the real `lifeboat` binary on a free
//! loopback port with its own data directory, the CLI run as a person would, a cookie-keeping
//! browser client, and a fake HTTP server that stands in for a platform.
//!
//! Each suite uses a different part of it, so unused items are expected.
#![allow(dead_code)]

pub mod fakes;
pub mod imports;
pub mod oauth;
pub mod site;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_lifeboat");
const START_TIMEOUT: Duration = Duration::from_secs(20);
const PORT_ATTEMPTS: usize = 5;

/// A running `lifeboat serve`. Killed on drop; `stop` ends it the polite way (SIGTERM).
pub struct Server {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: String,
    data_dir: PathBuf,
    child: Option<Child>,
    /// The server's stdout and stderr, kept outside the data directory so tests that scan
    /// the data directory never see log lines.
    log_dir: TempDir,
    owned_data: Option<TempDir>,
}

impl Server {
    /// A server on a fresh, empty data directory that is deleted with the server.
    pub fn start() -> Server {
        let data = tempfile::tempdir().expect("temp data dir");
        let mut server = Server::start_in(data.path());
        server.owned_data = Some(data);
        server
    }

    /// A server on `data_dir`, which the caller owns (to restart on it or inspect it).
    pub fn start_in(data_dir: &Path) -> Server {
        Server::start_with(data_dir, &[])
    }

    /// `start_in` with extra environment (`LIFEBOAT_*` settings).
    pub fn start_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        let log_dir = tempfile::tempdir().expect("temp log dir");
        let log_path = log_dir.path().join("server.log");
        let mut last_log = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
            let log = std::fs::File::create(&log_path).expect("server log file");
            let mut child = lifeboat(data_dir)
                .envs(env.iter().copied())
                .args(["serve", "--listen", &addr.to_string()])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("clone log handle"))
                .stderr(log)
                .spawn()
                .expect("spawn lifeboat serve");
            match wait_until_healthy(&mut child, addr, &log_path) {
                Ok(()) => {
                    return Server {
                        addr,
                        base: format!("http://{addr}"),
                        data_dir: data_dir.to_path_buf(),
                        child: Some(child),
                        log_dir,
                        owned_data: None,
                    };
                }
                // Another process took the port between our probe and the bind: retry.
                Err(log) if log.contains("cannot listen") => last_log = log,
                Err(log) => panic!("lifeboat serve did not come up: {log}"),
            }
        }
        panic!("lifeboat serve found no free port in {PORT_ATTEMPTS} attempts: {last_log}");
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is running").id()
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_dir.path().join("server.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits up to `within` for the exit; panics (after killing it) if
    /// the server is still running then. Returns the exit status and how long it took.
    pub fn stop_within(&mut self, within: Duration) -> (ExitStatus, Duration) {
        let mut child = self.child.take().expect("server is running");
        let started = Instant::now();
        send_signal(child.id(), libc::SIGTERM);
        loop {
            if let Some(status) = child.try_wait().expect("poll child") {
                return (status, started.elapsed());
            }
            if started.elapsed() > within {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "lifeboat serve still running {within:?} after SIGTERM:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server with SIGTERM and asserts a clean exit.
    pub fn stop(&mut self) {
        let (status, _) = self.stop_within(Duration::from_secs(10));
        assert!(
            status.success(),
            "lifeboat serve exited with {status}:\n{}",
            self.log()
        );
    }

    /// A browser pointed at this server.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// A JSON API client carrying `key` as its bearer token.
    pub fn api(&self, key: &str) -> Api {
        Api::new(&self.base, Some(key))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `/healthz` until it answers 200. On failure the child is gone and the error
/// carries its log.
fn wait_until_healthy(child: &mut Child, addr: SocketAddr, log_path: &Path) -> Result<(), String> {
    let log = || std::fs::read_to_string(log_path).unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            return Err(format!("exited with {status}\n{}", log()));
        }
        if let Some((200, _)) = raw_get(addr, "/healthz") {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "no answer on /healthz within {START_TIMEOUT:?}\n{}",
                log()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn send_signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) with a pid we spawned and still own; no memory is involved.
    let rc = unsafe { libc::kill(pid as libc::pid_t, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// A port that was free a moment ago. The caller retries if another process takes it first.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A bare HTTP/1.0 GET, so waiting for the server needs no async runtime.
fn raw_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((status, body))
}

// ---- the command line ------------------------------------------------------------------

/// `lifeboat --data DIR`, with none of the caller's `LIFEBOAT_*` or `RUST_LOG` settings, so
/// what a test sees does not depend on the shell it was started from.
pub fn lifeboat(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.arg("--data").arg(dir);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("LIFEBOAT_") {
            command.env_remove(&name);
        }
    }
    command.env_remove("RUST_LOG");
    // Fake platforms answer at once: retries need not wait seconds, a hung one is given
    // up on sooner, and a tripped circuit breaker reopens quickly.
    command.env("LIFEBOAT_RETRY_BASE_MS", "20");
    command.env("LIFEBOAT_REQUEST_TIMEOUT_SECS", "5");
    command.env("LIFEBOAT_BREAKER_OPEN_SECS", "2");
    // Suites sync by hand and count requests; the scheduler suite turns it back on.
    command.env("LIFEBOAT_SCHEDULER_ENABLED", "false");
    command
}

/// Runs `lifeboat --data DIR ARGS...` with `stdin` (if any) as its standard input.
pub fn cli(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = lifeboat(dir);
    command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = command.spawn().expect("spawn lifeboat");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        // A command that fails before reading its input closes the pipe early; its exit
        // status and stderr tell the story then, not this write.
        if let Err(e) = pipe.write_all(text.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
        }
    }
    wait_with_timeout(
        child,
        Duration::from_secs(30),
        &format!("lifeboat {args:?}"),
    )
}

/// `cli`, asserting success; returns stdout without its trailing newline.
pub fn cli_ok(dir: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = cli(dir, args, stdin);
    assert!(
        out.status.success(),
        "lifeboat {args:?} failed with {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 stdout")
        .trim_end()
        .to_string()
}

/// Waits for `child` to exit and collects its output; kills it and panics after `limit`
/// (a command that should have failed and instead, say, went on serving).
pub fn wait_with_timeout(mut child: Child, limit: Duration, what: &str) -> Output {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err_reader = std::thread::spawn(move || read_all(stderr.as_mut()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_reader.join().unwrap_or_default();
            panic!(
                "{what} still running after {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

fn read_all(pipe: Option<&mut impl Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes);
    }
    bytes
}

/// Adds a user through the CLI (`user add`, password on stdin).
pub fn add_user(dir: &Path, name: &str, password: &str, admin: bool) {
    let mut args = vec!["user", "add", name];
    if admin {
        args.push("--admin");
    }
    cli_ok(dir, &args, Some(&format!("{password}\n")));
}

/// Creates an API key for `user` through the CLI and returns it.
pub fn api_key(dir: &Path, user: &str) -> String {
    let key = cli_ok(dir, &["apikey", "create", "--user", user], None);
    assert!(
        !key.is_empty() && !key.contains(char::is_whitespace),
        "odd API key {key:?}"
    );
    key
}

/// Adds a connection through the CLI (`connect`, secret on stdin) and returns its id.
pub fn connect(
    dir: &Path,
    user: &str,
    platform: &str,
    url: &str,
    handle: &str,
    secret: Option<&str>,
) -> i64 {
    let mut args = vec![
        "connect", "--user", user, platform, "--url", url, "--handle", handle,
    ];
    if secret.is_some() {
        args.push("--secret-stdin");
    }
    let stdin = secret.map(|s| format!("{s}\n"));
    let id = cli_ok(dir, &args, stdin.as_deref());
    id.parse()
        .unwrap_or_else(|_| panic!("`lifeboat connect` printed {id:?}, not an id"))
}

// ---- the browser and the API client ------------------------------------------------------

/// A browser: keeps cookies, does not follow redirects (so tests see the 303s).
pub struct Browser {
    pub client: reqwest::Client,
    pub base: String,
}

/// A response read to the end.
#[derive(Debug)]
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// Where a redirect points.
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").and_then(|v| v.to_str().ok())
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The page's CSRF token (the `csrf_token` hidden input).
    pub fn csrf(&self) -> String {
        csrf_token(&self.body)
            .unwrap_or_else(|| panic!("no csrf_token input on the page:\n{}", self.body))
    }

    pub fn assert_redirect(&self, to: &str) {
        assert_eq!(
            (self.status, self.location()),
            (303, Some(to)),
            "expected a 303 to {to}; body:\n{}",
            self.body
        );
    }
}

async fn read_page(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("response body");
    Page {
        status,
        headers,
        body,
    }
}

impl Browser {
    pub fn new(base: &str) -> Browser {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        Browser {
            client,
            base: base.to_string(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Page {
        read_page(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    /// Posts a urlencoded form as a browser would (no Origin header; see `post_form_with`).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        self.post_form_with(path, fields, &[]).await
    }

    pub async fn post_form_with(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut request = self.client.post(self.url(path)).form(fields);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        read_page(request.send().await.expect("POST")).await
    }

    /// Loads `page`, takes its CSRF token and posts `fields` plus the token to `action`.
    pub async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let form = self.get(page).await;
        assert_eq!(form.status, 200, "GET {page}:\n{}", form.body);
        let csrf = form.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf_token", &csrf));
        self.post_form(action, &all).await
    }

    /// First-run setup: creates the administrator and leaves this browser logged in.
    pub async fn setup(&self, name: &str, password: &str) -> Page {
        let fields = [
            ("name", name),
            ("password", password),
            ("password_again", password),
        ];
        self.submit("/setup", "/setup", &fields).await
    }

    /// Logs in through the form; returns the POST's response (a 303 to `/` on success).
    pub async fn login(&self, name: &str, password: &str) -> Page {
        self.submit(
            "/login",
            "/login",
            &[("name", name), ("password", password)],
        )
        .await
    }

    /// A multipart upload of one file, as the imports form sends it (`path` carries the
    /// `csrf_token` query when the test wants it to be accepted).
    pub async fn upload(
        &self,
        path: &str,
        platform: Option<&str>,
        name: &str,
        bytes: Vec<u8>,
    ) -> Page {
        send_upload(self.client.post(self.url(path)), platform, name, bytes).await
    }

    /// Logs in and asserts it worked.
    pub async fn login_ok(&self, name: &str, password: &str) {
        self.login(name, password).await.assert_redirect("/");
    }
}

/// Sends one file as the imports form does: fields `platform` (optional) and `file`.
async fn send_upload(
    request: reqwest::RequestBuilder,
    platform: Option<&str>,
    name: &str,
    bytes: Vec<u8>,
) -> Page {
    let mut form = reqwest::multipart::Form::new();
    if let Some(p) = platform {
        form = form.text("platform", p.to_string());
    }
    let file = reqwest::multipart::Part::bytes(bytes).file_name(name.to_string());
    read_page(
        request
            .multipart(form.part("file", file))
            .send()
            .await
            .expect("POST"),
    )
    .await
}

/// The value of the first `csrf_token` hidden input in `html`.
pub fn csrf_token(html: &str) -> Option<String> {
    html.match_indices("<input").find_map(|(start, _)| {
        let tag = &html[start..start + html[start..].find('>')?];
        if attribute(tag, "name")? != "csrf_token" {
            return None;
        }
        attribute(tag, "value").map(str::to_string)
    })
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let len = tag[start..].find('"')?;
    Some(&tag[start..start + len])
}

/// A JSON API client (`Authorization: Bearer KEY` when a key is given).
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub key: Option<String>,
}

impl Api {
    pub fn new(base: &str, key: Option<&str>) -> Api {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client");
        Api {
            client,
            base: base.to_string(),
            key: key.map(str::to_string),
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let request = self.authorize(self.client.get(format!("{}{path}", self.base)));
        read_page(request.send().await.expect("GET")).await
    }

    /// A multipart upload of one file (field `file`), with an optional `platform` field.
    pub async fn upload(
        &self,
        path: &str,
        platform: Option<&str>,
        name: &str,
        bytes: Vec<u8>,
    ) -> Page {
        let request = self.client.post(format!("{}{path}", self.base));
        send_upload(self.authorize(request), platform, name, bytes).await
    }

    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Page {
        let request = self.authorize(self.client.post(format!("{}{path}", self.base)).json(body));
        read_page(request.send().await.expect("POST")).await
    }
}

// ---- files ------------------------------------------------------------------------------

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + x as u32) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// A real, decodable PNG (RGB, stored deflate blocks) whose pixels depend on `seed`.
pub fn png(seed: u32, width: u32, height: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..height {
        raw.push(0); // filter: none
        for x in 0..width {
            let v = seed
                .wrapping_mul(2_654_435_761)
                .wrapping_add(x * 31 + y * 17);
            raw.extend_from_slice(&[v as u8, (v >> 8) as u8, (v >> 16) as u8]);
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let chunk = |out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut typed = kind.to_vec();
        typed.extend_from_slice(data);
        out.extend_from_slice(&typed);
        out.extend_from_slice(&crc32(&typed).to_be_bytes());
    };
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// Every regular file under `dir`, with its bytes.
pub fn snapshot(dir: &Path) -> HashMap<PathBuf, Vec<u8>> {
    let mut files = HashMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read dir") {
            let path = entry.expect("dir entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                pending.push(path);
            } else if meta.is_file() {
                files.insert(path.clone(), std::fs::read(&path).expect("read file"));
            }
        }
    }
    files
}

pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The data directory's database, read-only, as an operator with sqlite3 would look.
pub fn db(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        dir.join("lifeboat.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open database read-only")
}

/// One number from the database; a NULL fails the test.
pub fn query_i64(dir: &Path, sql: &str) -> i64 {
    db(dir).query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// One text from the database; a NULL fails the test.
pub fn query_text(dir: &Path, sql: &str) -> String {
    db(dir).query_row(sql, [], |r| r.get(0)).expect(sql)
}

/// A connection's status and last error ("" when there is none).
pub fn status_and_error(dir: &Path, id: i64) -> (String, String) {
    db(dir)
        .query_row(
            &format!("SELECT status, last_error FROM connections WHERE id = {id}"),
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                ))
            },
        )
        .unwrap()
}

/// `lifeboat sync --connection ID` (posts only; media left to a server).
pub fn sync(dir: &Path, id: i64) -> Output {
    cli(dir, &["sync", "--connection", &id.to_string()], None)
}

/// `sync`, which must succeed.
pub fn sync_ok(dir: &Path, id: i64) {
    let out = sync(dir, id);
    assert!(
        out.status.success(),
        "sync failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
