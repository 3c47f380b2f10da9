//! The HTML report in a real browser: a run of two agents renders, headless
//! Chromium loads it from file:// with no console error and no network request,
//! the DOM it builds has one matrix cell per agent and case, and a screenshot is
//! taken (`target/tmp/report.png`). Without chromium the test is skipped with a
//! message, unless WSCHAOS_REQUIRE_BROWSER=1 (as in CI), where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wschaos_targets::{ServerFlaw, spawn_echo_server};

fn browser() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Runs the browser headless with `args` on `url`, killed after 60 s; returns
/// what it wrote to stdout and stderr (through files: a DOM fills a pipe).
fn headless(bin: &Path, profile: &Path, args: &[&str], url: &str) -> (String, String) {
    let out_path = profile.with_extension("out");
    let err_path = profile.with_extension("err");
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("start the browser");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the browser did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (read(&out_path), read(&err_path))
}

/// Console errors and failed loads in the browser's log.
fn errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            (l.contains("CONSOLE") && (l.contains("Uncaught") || l.contains("Error")))
                || l.contains("net::ERR_")
                || l.contains("Refused to")
        })
        .collect()
}

#[test]
fn html_report_renders_in_a_browser() {
    let Some(bin) = browser() else {
        assert!(
            std::env::var("WSCHAOS_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "chromium is required here (WSCHAOS_REQUIRE_BROWSER=1): apt-get install chromium"
        );
        eprintln!("skipped: no chromium on the PATH (apt-get install chromium)");
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (good, broken) = rt.block_on(async {
        (
            spawn_echo_server("127.0.0.1:0", ServerFlaw::None)
                .await
                .unwrap(),
            spawn_echo_server("127.0.0.1:0", ServerFlaw::DropOnError)
                .await
                .unwrap(),
        )
    });
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("html_browser");
    let _ = std::fs::remove_dir_all(&dir);
    let reports = dir.join("reports");
    let out = Command::new(env!("CARGO_BIN_EXE_wschaos"))
        .args(["check-server", "--seed", "7", "--timeout-ms", "1500"])
        .args(["--target", &format!("ws://{}/", good.addr)])
        .args(["--target", &format!("ws://{}/", broken.addr)])
        .args(["--agent", "conforming", "--agent", "drop-on-error"])
        .args(["--case", "ok.*", "--case", "rsv.*", "--case", "close.*"])
        .args(["--case", "utf8.invalid-text-*", "--case", "length.*"])
        .arg("--report-dir")
        .arg(&reports)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("index.json")).unwrap()).unwrap();
    let cases = index["conforming"].as_object().unwrap().len();
    assert_eq!(index["drop-on-error"].as_object().unwrap().len(), cases);
    let page = reports.join("index.html");
    let url = format!("file://{}", page.display());
    let profile = dir.join("profile");

    let (html, log) = headless(&bin, &profile, &["--dump-dom"], &url);
    assert!(
        html.contains("<table class=\"matrix\""),
        "no matrix in the DOM: {log}"
    );
    let cells = html.matches("class=\"cell ").count();
    assert_eq!(cells, 2 * cases, "one cell per agent and case");
    for agent in ["0", "1"] {
        let n = html.matches(&format!("data-agent=\"{agent}\"")).count();
        assert_eq!(n, cases, "agent {agent}");
    }
    // The non-strict cells of the agent that drops TCP are there, and marked.
    assert!(html.contains("v-nonstrict"));
    assert!(errors(&log).is_empty(), "{:?}", errors(&log));
    // No script at all, and nothing fetched from the network.
    assert!(!html.contains("<script"));
    assert!(!html.contains("http://") && !html.contains("https://"));

    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = std::fs::remove_file(&shot);
    let (_, log) = headless(
        &bin,
        &profile,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,800",
            "--hide-scrollbars",
        ],
        &url,
    );
    assert!(errors(&log).is_empty(), "{:?}", errors(&log));
    let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot: {e}\n{log}"));
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(bytes.len() > 5_000, "an empty page? {} bytes", bytes.len());
    // A panel opens from its cell (CSS :target), also without error.
    let (_, log) = headless(&bin, &profile, &["--dump-dom"], &format!("{url}#p-1-0"));
    assert!(errors(&log).is_empty(), "{:?}", errors(&log));
    eprintln!("screenshot: {}", shot.display());
}
