//! The container files as a user gets them: docker-compose.yml's services and their wiring,
//! every `TRIBUTARY__` variable that it or the Dockerfile sets being a real configuration
//! key that loads, the demo profile passing `tributary check` against the simulator, and a
//! Dockerfile that is multi-stage, runs as non-root with a healthcheck and copies only what
//! the repository has.

use std::collections::HashMap;
use std::path::Path;

use serde_norway::Value;
use tributary::config::Settings;
use tributary::sources::aimsio::AimsioSettings;
use tributary::sources::aircalc::AircalcSettings;
use tributary_simulator::SimOptions;

use crate::common::*;

/// Variables of the tributary image that are not configuration keys but are read.
const OTHER_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "TRIBUTARY_CONFIG",
    "TRIBUTARY_LOG_FORMAT",
    "RUST_LOG",
];

fn read(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn compose() -> Value {
    serde_norway::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

fn service<'c>(compose: &'c Value, name: &str) -> &'c Value {
    compose["services"]
        .get(name)
        .unwrap_or_else(|| panic!("no service `{name}` in docker-compose.yml"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| items.iter().map(scalar).collect())
        .unwrap_or_default()
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => panic!("not a scalar: {other:?}"),
    }
}

/// The services running the tributary image (built from this repository).
fn tributary_services(compose: &Value) -> Vec<String> {
    let services = compose["services"].as_mapping().expect("services");
    services
        .iter()
        .filter(|(_, s)| {
            s.get("build").is_some()
                || s.get("image")
                    .is_some_and(|image| scalar(image).starts_with("tributary"))
        })
        .map(|(name, _)| scalar(name))
        .collect()
}

/// A service's `environment` (a mapping or a `KEY=value` list) as written.
fn environment(service: &Value) -> Vec<(String, String)> {
    match &service["environment"] {
        Value::Mapping(map) => map.iter().map(|(k, v)| (scalar(k), scalar(v))).collect(),
        Value::Sequence(items) => items
            .iter()
            .map(|item| {
                let item = scalar(item);
                let (k, v) = item.split_once('=').unwrap_or((&item, ""));
                (k.to_string(), v.to_string())
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Compose's interpolation with nothing set on the host: `${VAR:-default}` and
/// `${VAR-default}` give the default, any other `${VAR...}` a dummy; `$$` is `$`.
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(inner) = rest.strip_prefix('{') {
            let end = inner.find('}').expect("a closed ${...}");
            let expression = &inner[..end];
            let default = expression
                .split_once(":-")
                .or_else(|| expression.split_once('-'))
                .map_or("dummy", |(_, default)| default);
            out.push_str(default);
            rest = &inner[end + 1..];
        } else {
            panic!("unbraced $ in `{value}`: write ${{VAR}}");
        }
    }
    out.push_str(rest);
    out
}

/// `TRIBUTARY__SOURCES__AIRCALC__CLIENT_SECRET` → `sources.aircalc.client_secret`.
fn config_key(variable: &str) -> Option<String> {
    let rest = variable.strip_prefix("TRIBUTARY__")?;
    Some(
        rest.split("__")
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// The Dockerfile's instructions: comments dropped, continuation lines joined.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let (word, args) = current.trim().split_once(' ').unwrap_or((&current, ""));
                instructions.push((word.to_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    instructions
}

/// The Dockerfile's `ENV` variables (`ENV KEY=value ...` or `ENV KEY value`).
fn dockerfile_env() -> Vec<(String, String)> {
    let mut env = Vec::new();
    for (_, args) in dockerfile().into_iter().filter(|(i, _)| i == "ENV") {
        match args.split_once(' ') {
            Some((key, value)) if !key.contains('=') => {
                env.push((key.to_string(), value.trim().to_string()));
            }
            _ => env.extend(args.split_whitespace().map(|pair| {
                let (k, v) = pair.split_once('=').expect("KEY=value");
                (k.to_string(), v.trim_matches('"').to_string())
            })),
        }
    }
    env
}

/// The environment a tributary service's process gets: the image's, then the service's,
/// with nothing set on the host.
fn process_env(service: &Value) -> HashMap<String, String> {
    dockerfile_env()
        .into_iter()
        .chain(
            environment(service)
                .into_iter()
                .map(|(k, v)| (k, interpolate(&v))),
        )
        .collect()
}

#[test]
fn compose_wires_postgres_tributary_and_the_demo_profile() {
    let compose = compose();
    let postgres = service(&compose, "postgres");
    assert!(
        scalar(&postgres["image"]).starts_with("postgres:"),
        "{postgres:?}"
    );
    let volume = strings(&postgres["volumes"])
        .into_iter()
        .find(|v| v.ends_with(":/var/lib/postgresql/data"))
        .expect("postgres keeps its data in a volume");
    let volume_name = volume.split(':').next().unwrap();
    assert!(
        compose["volumes"].get(volume_name).is_some(),
        "the volume `{volume_name}` is declared"
    );
    assert!(
        strings(&postgres["healthcheck"]["test"]).contains(&"pg_isready".to_string()),
        "{:?}",
        postgres["healthcheck"]
    );
    let postgres_env: HashMap<String, String> = environment(postgres).into_iter().collect();
    for key in ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"] {
        assert!(postgres_env.contains_key(key), "{key}");
    }

    for name in ["tributary", "tributary-demo"] {
        let service = service(&compose, name);
        assert_eq!(
            scalar(&service["depends_on"]["postgres"]["condition"]),
            "service_healthy",
            "{name}"
        );
        let url = &process_env(service)["DATABASE_URL"];
        assert!(url.contains("@postgres:5432/"), "{name}: {url}");
        // Docker kills after 10 s by default: the daemon needs its whole grace period.
        let grace = tributary::config::Settings::load(None, &HashMap::new())
            .expect("the defaults load")
            .server
            .shutdown_grace;
        let stop = scalar(&service["stop_grace_period"]);
        let stop_secs: u64 = stop
            .strip_suffix('s')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name}: stop_grace_period in seconds, got {stop:?}"));
        assert!(stop_secs > grace.as_secs(), "{name}: {stop}");
    }
    let tributary = service(&compose, "tributary");
    assert!(tributary.get("profiles").is_none());
    assert!(
        strings(&tributary["ports"])
            .iter()
            .any(|p| p.ends_with(":8080")),
        "{tributary:?}"
    );
    for name in ["simulator", "tributary-demo"] {
        assert_eq!(
            strings(&service(&compose, name)["profiles"]),
            ["demo"],
            "{name}"
        );
    }
    assert_eq!(
        strings(&service(&compose, "simulator")["command"])[..2],
        ["simulate", "--bind"]
    );
    assert_eq!(
        strings(&service(&compose, "tributary-demo")["command"]),
        ["run"]
    );
}

#[test]
fn every_variable_of_the_container_files_is_a_configuration_key() {
    let known = Settings::known_keys();
    let compose = compose();
    let mut variables: Vec<(String, String)> = dockerfile_env()
        .into_iter()
        .map(|(k, _)| (k, "Dockerfile".to_string()))
        .collect();
    assert!(
        variables.len() >= 2,
        "the Dockerfile sets ENV: {variables:?}"
    );
    for name in tributary_services(&compose) {
        variables.extend(
            environment(service(&compose, &name))
                .into_iter()
                .map(|(k, _)| (k, format!("docker-compose.yml service `{name}`"))),
        );
    }
    assert!(
        variables.len() > 20,
        "the compose services set their configuration: {variables:?}"
    );
    for (variable, origin) in variables {
        match config_key(&variable) {
            Some(key) => assert!(
                known.contains(&key),
                "{origin}: {variable} is not a configuration key (`{key}` is not in \
                 config/default.toml or src/sources/*/default.toml)"
            ),
            None => assert!(
                OTHER_VARIABLES.contains(&variable.as_str()),
                "{origin}: tributary does not read {variable}"
            ),
        }
    }
}

#[test]
fn the_compose_and_image_settings_load() {
    let compose = compose();
    let services = tributary_services(&compose);
    assert!(services.len() >= 3, "{services:?}");
    for name in services {
        let env = process_env(service(&compose, &name));
        if let Err(e) = Settings::load(None, &env) {
            panic!("service `{name}`: {e}");
        }
    }
    let image = Settings::load(None, &dockerfile_env().into_iter().collect()).unwrap();
    let exposed: Vec<String> = dockerfile()
        .into_iter()
        .filter(|(i, _)| i == "EXPOSE")
        .map(|(_, port)| port)
        .collect();
    assert_eq!(exposed, [image.server.bind.port().to_string()]);
    assert!(
        image.server.bind.ip().is_unspecified(),
        "{:?}",
        image.server
    );
}

#[tokio::test]
async fn the_demo_profile_passes_check_against_the_simulator() {
    let compose = compose();
    let command = strings(&service(&compose, "simulator")["command"]);
    let bind: std::net::SocketAddr = command[2].parse().expect("simulate --bind ADDR");
    let served_at = format!("http://simulator:{}", bind.port());
    let app = TestApp::spawn(3).await;
    let mut env = process_env(service(&compose, "tributary-demo"));
    for (key, value) in env.iter_mut() {
        if key.ends_with("_URL") && value.contains("simulator") {
            assert!(value.starts_with(&served_at), "{key}={value}");
            *value = value.replacen(&served_at, &app.sim().url(), 1);
        }
    }
    env.insert("DATABASE_URL".into(), app.db().url.clone());
    let settings = Settings::load(None, &env).expect("the demo profile's settings");
    let defaults = SimOptions::default();
    let own = |name| settings.source(name).expect("every source is loaded");
    assert_eq!(
        own("aimsio").get::<AimsioSettings>().username,
        defaults.aimsio_username
    );
    assert_eq!(
        own("aircalc").get::<AircalcSettings>().client_id,
        defaults.aircalc_client_id
    );
    let selected = tributary::sources::select(&settings, &[]).expect("sources enabled");
    let every: Vec<&str> = settings.sources.iter().map(|s| s.name).collect();
    assert_eq!(selected, every);
    let (rows, ok) = tributary::check::run(&settings, &selected).await;
    assert!(ok, "{rows:?}");
    app.stop().await;
}

#[test]
fn the_dockerfile_is_multi_stage_non_root_with_a_healthcheck() {
    let instructions = dockerfile();
    let count = |name: &str| instructions.iter().filter(|(i, _)| i == name).count();
    assert!(count("FROM") >= 2, "multi-stage: {instructions:?}");
    let user = instructions
        .iter()
        .rev()
        .find(|(i, _)| i == "USER")
        .map(|(_, user)| user.split(':').next().unwrap().to_string())
        .expect("a USER");
    assert!(user != "root" && user != "0", "runs as {user}");
    let healthcheck = instructions
        .iter()
        .find(|(i, _)| i == "HEALTHCHECK")
        .map(|(_, args)| args.clone())
        .expect("a HEALTHCHECK");
    assert!(healthcheck.contains("CMD"), "{healthcheck}");

    let ignore = read(".dockerignore");
    let copied = instructions
        .iter()
        .filter(|(i, args)| i == "COPY" && !args.starts_with("--from"))
        .flat_map(|(_, args)| {
            let words: Vec<&str> = args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    assert!(copied.len() >= 4, "{copied:?}");
    for source in copied {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(&source);
        assert!(
            path.exists(),
            "the Dockerfile copies {source}, which is missing"
        );
        assert!(
            in_build_context(&ignore, &source),
            ".dockerignore leaves {source} out of the build context"
        );
    }
}

/// Whether `.dockerignore` lets `path` into the build context: the last pattern matching it
/// decides, `!` admits. Patterns are taken as `*` or plain paths, as that file writes them.
fn in_build_context(ignore: &str, path: &str) -> bool {
    let mut admitted = true;
    for line in ignore.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (pattern, admits) = match line.strip_prefix('!') {
            Some(pattern) => (pattern, true),
            None => (line, false),
        };
        let pattern = pattern.trim_end_matches('/');
        if pattern == "*" || pattern == path || path.starts_with(&format!("{pattern}/")) {
            admitted = admits;
        }
    }
    admitted
}
