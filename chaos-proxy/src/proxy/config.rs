//! `wschaos proxy --config FILE.toml`: several named proxies in one process.
//!
//! ```toml
//! api = "127.0.0.1:9003"            # global keys: api, report and the limits,
//! report = "faults.jsonl"           # named as the command-line flags
//! grace_ms = 2000
//!
//! [[proxies]]
//! name = "chat"                     # [A-Za-z0-9_.-], at most 64 characters
//! listen = "127.0.0.1:9002"
//! upstream = "127.0.0.1:9001"
//! faults = ["flip-mask@c2s:p=0.05"]
//! seed = 42                         # optional: random, shown in the banner
//! enabled = true                    # optional
//! report = "chat.jsonl"             # optional: else the global report
//! record = "recordings/chat"        # optional
//! tls_cert = "cert.pem"             # optional, with tls_key: clients connect with wss://
//! tls_key = "key.pem"
//! upstream_tls = true               # optional (or upstream = "wss://HOST:PORT"), with
//! upstream_ca = "ca.pem"            #   upstream_ca, upstream_insecure, upstream_sni
//! ```
//!
//! Unknown keys are refused. Every error is one line naming the file, the line
//! and the key: `proxies.toml:7: proxies[1].listen: invalid socket address "x"`.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::proxy::fault::FaultSpec;
use crate::proxy::server::ProxyDef;

/// Longest proxy name (it is a metrics label and a path segment).
pub const MAX_NAME: usize = 64;

/// A config file, checked.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub api: Option<SocketAddr>,
    pub report: Option<PathBuf>,
    pub reaction_timeout_ms: Option<u64>,
    pub max_connections: Option<u64>,
    pub handshake_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub grace_ms: Option<u64>,
    pub proxies: Vec<ProxyDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    api: Option<Spanned<String>>,
    report: Option<PathBuf>,
    reaction_timeout_ms: Option<Spanned<u64>>,
    max_connections: Option<Spanned<u64>>,
    handshake_timeout_ms: Option<Spanned<u64>>,
    idle_timeout_ms: Option<Spanned<u64>>,
    grace_ms: Option<Spanned<u64>>,
    #[serde(default)]
    proxies: Vec<Spanned<RawProxy>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    name: Spanned<String>,
    listen: Spanned<String>,
    upstream: Spanned<String>,
    #[serde(default)]
    faults: Vec<Spanned<String>>,
    seed: Option<u64>,
    #[serde(default = "yes")]
    enabled: bool,
    report: Option<PathBuf>,
    record: Option<PathBuf>,
    tls_cert: Option<Spanned<PathBuf>>,
    tls_key: Option<Spanned<PathBuf>>,
    #[serde(default)]
    upstream_tls: bool,
    upstream_ca: Option<Spanned<PathBuf>>,
    #[serde(default)]
    upstream_insecure: bool,
    upstream_sni: Option<Spanned<String>>,
}

impl RawProxy {
    /// The proxy's TLS settings, files read and checked; an error names the key.
    fn tls(&self, upstream_tls: bool) -> Result<crate::tls::ProxyTls, (String, Range<usize>)> {
        let listen = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.get_ref().as_path(), k.get_ref().as_path())),
            (Some(c), None) => {
                return Err(("tls_cert: needs tls_key too".into(), c.span()));
            }
            (None, Some(k)) => return Err(("tls_key: needs tls_cert too".into(), k.span())),
            (None, None) => None,
        };
        crate::cli::tls::proxy_tls(
            listen,
            upstream_tls,
            self.upstream_ca.as_ref().map(|c| c.get_ref().as_path()),
            self.upstream_insecure,
            self.upstream_sni.as_ref().map(|s| s.get_ref().as_str()),
        )
        .map_err(|e| {
            // Name the key the problem is in: the file the message names, else
            // the upstream settings.
            let e = e.to_string();
            let key_span = |k: &Option<Spanned<PathBuf>>| {
                k.as_ref()
                    .filter(|p| e.contains(&p.get_ref().display().to_string()))
                    .map(|p| p.span())
            };
            let (key, span) = if let Some(s) = key_span(&self.tls_cert) {
                ("tls_cert", s)
            } else if let Some(s) = key_span(&self.tls_key) {
                ("tls_key", s)
            } else if let Some(s) = key_span(&self.upstream_ca) {
                ("upstream_ca", s)
            } else if let Some(s) = self.upstream_sni.as_ref().map(|s| s.span()) {
                ("upstream_sni", s)
            } else {
                ("upstream_tls", self.upstream.span())
            };
            (format!("{key}: {e}"), span)
        })
    }
}

fn yes() -> bool {
    true
}

/// Reads and checks `path`; errors are one line (`FILE:LINE: KEY: problem`).
pub fn load(path: &Path) -> anyhow::Result<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read config {}: {e}", path.display()))?;
    parse(&path.display().to_string(), &text).map_err(anyhow::Error::msg)
}

/// Checks a config file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Config, String> {
    let at = |span: Option<Range<usize>>, key: &str, problem: &str| {
        let problem = problem.replace('\n', " ");
        match span {
            Some(s) => format!("{file}:{}: {key}: {problem}", line_of(text, s.start)),
            None => format!("{file}: {key}: {problem}"),
        }
    };
    let de =
        toml::Deserializer::parse(text).map_err(|e| at(e.span(), "syntax", e.message().trim()))?;
    let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        // Spanned values show up in the path as a private field: left out.
        let key = e
            .path()
            .to_string()
            .replace(".$__serde_spanned_private_value", "")
            .replace("$__serde_spanned_private_value.", "");
        let inner = e.into_inner();
        let key = if key == "." {
            "(top level)".to_owned()
        } else {
            key
        };
        at(inner.span(), &key, inner.message().trim())
    })?;
    let mut config = Config {
        api: match &raw.api {
            Some(a) => Some(a.get_ref().parse().map_err(|_| {
                at(
                    Some(a.span()),
                    "api",
                    &format!("invalid socket address {:?}", a.get_ref()),
                )
            })?),
            None => None,
        },
        report: raw.report,
        ..Config::default()
    };
    let limits = [
        (
            "reaction_timeout_ms",
            &raw.reaction_timeout_ms,
            crate::cli::MAX_MS,
            &mut config.reaction_timeout_ms,
        ),
        (
            "max_connections",
            &raw.max_connections,
            1_000_000,
            &mut config.max_connections,
        ),
        (
            "handshake_timeout_ms",
            &raw.handshake_timeout_ms,
            crate::cli::MAX_MS,
            &mut config.handshake_timeout_ms,
        ),
        (
            "idle_timeout_ms",
            &raw.idle_timeout_ms,
            crate::cli::MAX_MS,
            &mut config.idle_timeout_ms,
        ),
        (
            "grace_ms",
            &raw.grace_ms,
            crate::cli::MAX_MS,
            &mut config.grace_ms,
        ),
    ];
    for (key, value, max, out) in limits {
        if let Some(v) = value {
            let n = *v.get_ref();
            if n == 0 || n > max {
                return Err(at(
                    Some(v.span()),
                    key,
                    &format!("{n} is not within 1 to {max}"),
                ));
            }
            *out = Some(n);
        }
    }
    if raw.proxies.is_empty() {
        return Err(format!(
            "{file}: proxies: no proxy defined (add a [[proxies]] table with name, listen and upstream)"
        ));
    }
    for (i, p) in raw.proxies.iter().enumerate() {
        let span = p.span();
        let p = p.get_ref();
        let key = |k: &str| format!("proxies[{i}].{k}");
        let faults: Vec<String> = p.faults.iter().map(|f| f.get_ref().clone()).collect();
        let (upstream, wss) = crate::cli::proxy::upstream_scheme(p.upstream.get_ref());
        let def = check_proxy(
            p.name.get_ref(),
            p.listen.get_ref(),
            &upstream,
            &faults,
            p.seed,
            p.enabled,
        )
        .map_err(|(k, problem)| {
            let span = match k.as_str() {
                "name" => p.name.span(),
                "listen" => p.listen.span(),
                "upstream" => p.upstream.span(),
                k => k
                    .strip_prefix("faults[")
                    .and_then(|r| r.strip_suffix(']'))
                    .and_then(|n| n.parse::<usize>().ok())
                    .and_then(|n| p.faults.get(n))
                    .map_or(span.clone(), |f| f.span()),
            };
            at(Some(span), &key(&k), &problem)
        })?;
        if let Some(prev) = config.proxies.iter().position(|d| d.name == def.name) {
            return Err(at(
                Some(p.name.span()),
                &key("name"),
                &format!("{:?} is proxies[{prev}]'s name already", def.name),
            ));
        }
        if def.listen.port() != 0 {
            if let Some(prev) = config.proxies.iter().position(|d| d.listen == def.listen) {
                return Err(at(
                    Some(p.listen.span()),
                    &key("listen"),
                    &format!("{} is proxies[{prev}]'s listen address already", def.listen),
                ));
            }
        }
        let tls = p.tls(p.upstream_tls || wss).map_err(|(problem, span)| {
            let (k, problem) = problem.split_once(": ").unwrap_or(("tls", &problem));
            at(Some(span), &key(k), problem)
        })?;
        config.proxies.push(ProxyDef {
            report: p.report.clone(),
            record: p.record.clone(),
            tls,
            ..def
        });
    }
    Ok(config)
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Checks one proxy's keys (from a config file or `POST /proxies`); an error
/// names the key (`listen`, `faults[2]`, ...) and the problem. No seed: a
/// random one.
pub fn check_proxy(
    name: &str,
    listen: &str,
    upstream: &str,
    faults: &[String],
    seed: Option<u64>,
    enabled: bool,
) -> Result<ProxyDef, (String, String)> {
    check_name(name).map_err(|e| ("name".to_owned(), e))?;
    let listen: SocketAddr = listen.parse().map_err(|_| {
        (
            "listen".to_owned(),
            format!("invalid socket address {listen:?}"),
        )
    })?;
    let (upstream, _) = crate::cli::proxy::parse_upstream(upstream).map_err(|e| {
        let e = e.to_string();
        let e = e.strip_prefix("bad --upstream ").unwrap_or(&e);
        ("upstream".to_owned(), format!("invalid upstream {e}"))
    })?;
    if upstream.parse::<SocketAddr>().is_ok_and(|u| u == listen) {
        return Err((
            "upstream".to_owned(),
            format!("{upstream} is the proxy's own listen address: it would connect to itself"),
        ));
    }
    let faults = faults
        .iter()
        .enumerate()
        .map(|(i, f)| FaultSpec::parse(f).map_err(|e| (format!("faults[{i}]"), e.to_string())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ProxyDef {
        name: name.to_owned(),
        listen,
        upstream,
        faults,
        seed: seed.unwrap_or_else(random_seed),
        enabled,
        report: None,
        record: None,
        tls: Default::default(),
    })
}

/// A proxy name: 1 to 64 of `A-Z a-z 0-9 _ . -` (a metrics label and a path
/// segment of the API).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!("a name is 1 to {MAX_NAME} characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        || name == "."
        || name == ".."
    {
        return Err(format!(
            "{name:?}: a name is made of letters, digits, _, . and -"
        ));
    }
    Ok(())
}

fn random_seed() -> u64 {
    use rand::Rng;
    rand::rng().random()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
api = "127.0.0.1:0"
grace_ms = 500

[[proxies]]
name = "a"
listen = "127.0.0.1:0"
upstream = "127.0.0.1:9001"
faults = ["flip-mask@c2s:p=0.5"]
seed = 7

[[proxies]]
name = "b"
listen = "127.0.0.1:0"
upstream = "ws://localhost:9001/"
enabled = false
report = "b.jsonl"
"#;

    #[test]
    fn a_good_file_parses() {
        let c = parse("p.toml", GOOD).unwrap();
        assert_eq!(c.api, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(c.grace_ms, Some(500));
        assert_eq!(c.max_connections, None);
        assert_eq!(c.proxies.len(), 2);
        let a = &c.proxies[0];
        assert_eq!((a.name.as_str(), a.seed, a.enabled), ("a", 7, true));
        assert_eq!(a.faults[0].text, "flip-mask@c2s:p=0.5");
        let b = &c.proxies[1];
        assert_eq!(b.upstream, "localhost:9001");
        assert!(!b.enabled);
        assert_eq!(b.report.as_deref(), Some(Path::new("b.jsonl")));
    }

    /// `GOOD` with `from` replaced by `to`, and the error it gives.
    fn error_with(from: &str, to: &str) -> String {
        assert!(GOOD.contains(from), "{from}");
        let e = parse("p.toml", &GOOD.replacen(from, to, 1)).unwrap_err();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_key() {
        let cases = [
            (
                "listen = \"127.0.0.1:0\"\nupstream = \"ws",
                "listen = \"x\"\nupstream = \"ws",
                "p.toml:14: proxies[1].listen: invalid socket address \"x\"",
            ),
            (
                "name = \"a\"",
                "name = \"a\"\ncolour = \"red\"",
                "p.toml:7: proxies[0].colour: unknown field `colour`",
            ),
            (
                "grace_ms = 500",
                "grace_ms = 0",
                "p.toml:3: grace_ms: 0 is not within 1 to",
            ),
            (
                "grace_ms = 500",
                "grace_ms = \"soon\"",
                "p.toml:3: grace_ms: invalid type",
            ),
            (
                "grace_ms = 500",
                "grace = 500",
                "p.toml:3: grace: unknown field `grace`",
            ),
            (
                "\"flip-mask@c2s:p=0.5\"",
                "\"flip-mask@c2s:p=0.5\", \"bogus\"",
                "p.toml:9: proxies[0].faults[1]: unknown fault \"bogus\"",
            ),
            (
                "upstream = \"127.0.0.1:9001\"",
                "upstream = \"127.0.0.1\"",
                "p.toml:8: proxies[0].upstream: invalid upstream \"127.0.0.1\": expected HOST:PORT",
            ),
            (
                "name = \"b\"",
                "name = \"a\"",
                "p.toml:13: proxies[1].name: \"a\" is proxies[0]'s name already",
            ),
            (
                "name = \"b\"",
                "name = \"b c\"",
                "p.toml:13: proxies[1].name: \"b c\": a name is made of",
            ),
            (
                "seed = 7",
                "seed = -1",
                "p.toml:10: proxies[0].seed: invalid value",
            ),
            (
                "api = \"127.0.0.1:0\"",
                "api = \"here\"",
                "p.toml:2: api: invalid socket address \"here\"",
            ),
            ("grace_ms = 500", "grace_ms = 500 x", "p.toml:3: syntax:"),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .map(|(from, to, want)| (error_with(from, to), to, want))
            .filter(|(e, _, want)| !e.starts_with(*want))
            .map(|(e, to, want)| format!("{to:?}:\n got: {e}\nwant: {want}"))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        let e = error_with("name = \"b\"\n", "");
        assert!(
            e.starts_with("p.toml:12: proxies[1]: missing field `name`"),
            "{e}"
        );
    }

    #[test]
    fn tls_keys_are_read_and_their_errors_name_the_key() {
        let dir = std::env::temp_dir().join(format!("wschaos-config-tls-{}", std::process::id()));
        let pki = crate::tls::TestPki::generate(&["127.0.0.1"]).unwrap();
        let (ca, cert, key) = pki.write(&dir).unwrap();
        let with = |extra: &str| {
            let text = GOOD.replacen("seed = 7\n", &format!("seed = 7\n{extra}\n"), 1);
            parse("p.toml", &text)
        };
        let c = with(&format!(
            "tls_cert = {cert:?}\ntls_key = {key:?}\nupstream_tls = true\nupstream_ca = {ca:?}\nupstream_sni = \"api.example\""
        ))
        .unwrap();
        let tls = &c.proxies[0].tls;
        assert!(tls.listen.is_some());
        let up = tls.upstream.as_ref().unwrap();
        assert_eq!(up.server_name.as_deref(), Some("api.example"));
        assert!(c.proxies[1].tls.listen.is_none() && c.proxies[1].tls.upstream.is_none());
        // wss:// as the upstream turns TLS on.
        let wss = GOOD.replacen(
            "upstream = \"127.0.0.1:9001\"",
            "upstream = \"wss://127.0.0.1:9001\"",
            1,
        );
        let c = parse("p.toml", &wss).unwrap();
        assert_eq!(c.proxies[0].upstream, "127.0.0.1:9001");
        assert!(c.proxies[0].tls.upstream.is_some());
        for (extra, want) in [
            (
                format!("tls_cert = {cert:?}"),
                "p.toml:11: proxies[0].tls_cert: needs tls_key too",
            ),
            (
                format!("tls_cert = {cert:?}\ntls_key = {ca:?}"),
                "p.toml:12: proxies[0].tls_key: TLS key",
            ),
            (
                "upstream_ca = \"nowhere.pem\"".to_owned(),
                "p.toml:8: proxies[0].upstream_tls: an upstream CA",
            ),
            (
                format!("upstream_tls = true\nupstream_ca = {key:?}"),
                "p.toml:12: proxies[0].upstream_ca: TLS certificate file",
            ),
            (
                "upstream_tls = true\nupstream_sni = \"a b\"".to_owned(),
                "p.toml:12: proxies[0].upstream_sni:",
            ),
        ] {
            let e = with(&extra).unwrap_err();
            assert!(e.starts_with(want), "{extra}:\n got: {e}\nwant: {want}");
            assert!(!e.contains('\n'));
        }
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn file_level_errors() {
        assert_eq!(
            parse("p.toml", "api = \"127.0.0.1:0\"\n").unwrap_err(),
            "p.toml: proxies: no proxy defined (add a [[proxies]] table with name, listen and upstream)"
        );
        let same = GOOD.replace("127.0.0.1:0\"\nupstream", "127.0.0.1:9100\"\nupstream");
        assert!(parse("p.toml", &same).unwrap_err().starts_with(
            "p.toml:14: proxies[1].listen: 127.0.0.1:9100 is proxies[0]'s listen address already"
        ),);
        let own = GOOD.replacen(
            "upstream = \"127.0.0.1:9001\"",
            "upstream = \"127.0.0.1:0\"",
            1,
        );
        assert!(
            parse("p.toml", &own)
                .unwrap_err()
                .contains("proxies[0].upstream: invalid upstream")
        );
        let e = load(Path::new("/nonexistent/p.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("cannot read config /nonexistent/p.toml"),
            "{e}"
        );
    }

    #[test]
    fn the_example_file_stays_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/proxies.example.toml");
        let c = load(Path::new(path)).unwrap();
        assert!(c.proxies.len() >= 2);
        assert!(c.proxies.iter().any(|p| !p.faults.is_empty()));
    }

    #[test]
    fn names() {
        assert!(check_name("chat-1.v2_x").is_ok());
        for bad in ["", "a b", "a/b", "..", "é", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
