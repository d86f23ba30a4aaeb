//! The real Docker engine for the container tests: the sample service's
//! `FROM scratch` image built from the static binary `cargo xtask test`
//! made, compose stacks under unique project names, and cleanup of every
//! container, network and image tag a test creates, even when it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::root;

/// Whether the engine answers. Without one, a test is skipped with a
/// visible message, except under `CI=true`, where it fails: CI must run
/// the Docker tests, never skip them silently.
pub fn engine_or_skip(test: &str) -> bool {
    let answer = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    let problem = match answer {
        Ok(out) if out.status.success() => return true,
        Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        Err(e) => format!("cannot run the docker CLI: {e}"),
    };
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but no Docker engine is reachable, so {test} cannot run: {problem}");
    }
    eprintln!(
        "SKIPPED {test}: no Docker engine is reachable ({problem}); with CI=true this fails instead"
    );
    false
}

fn unique(name: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "gate-e2e-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sample service's image under a tag of this test's own; the tag is
/// removed on drop.
pub struct Image {
    /// `repository:tag`.
    pub reference: String,
    pub tag: String,
}

impl Image {
    /// Builds `demo/container/Dockerfile` around the static binary.
    pub fn build(name: &str, tag: &str) -> Image {
        let binary = std::env::var_os("GATE_TEST_SERVICE_STATIC").map(PathBuf::from).expect(
            "GATE_TEST_SERVICE_STATIC is not set: run the suite with `cargo xtask test`, which builds the static sample service",
        );
        let context = TempDir::new("image");
        std::fs::copy(
            root().join("demo/container/Dockerfile"),
            context.0.join("Dockerfile"),
        )
        .expect("copy the Dockerfile");
        std::fs::copy(&binary, context.0.join("sample-service"))
            .unwrap_or_else(|e| panic!("copy {}: {e}", binary.display()));
        let image = Image {
            reference: format!("{}:{tag}", unique(name)),
            tag: tag.to_owned(),
        };
        // A label of its own gives the image an ID of its own: tests build
        // the same content in parallel, and an ID shared by several tags
        // is deleted when one test removes the last tag it sees while
        // another test's build is still tagging it (compose then finds no
        // image and tries to pull one).
        let label = format!("gate-e2e-image={}", image.reference);
        run(Command::new("docker")
            .args([
                "build",
                "--quiet",
                "--label",
                &label,
                "--tag",
                &image.reference,
            ])
            .arg(&context.0));
        image
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "--force", &self.reference])
            .output();
    }
}

/// A compose stack under a unique project name, taken down (containers,
/// networks, volumes) on drop.
pub struct Compose {
    pub project: String,
    file: PathBuf,
    env: Vec<(String, String)>,
    _dir: Option<TempDir>,
}

impl Compose {
    /// `up -d` of a compose file with `env` for its `${VARS}`.
    pub fn up(name: &str, file: &Path, env: &[(&str, String)]) -> Compose {
        let compose = Compose {
            project: unique(name),
            file: file.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            _dir: None,
        };
        compose.start();
        compose
    }

    /// `up -d` of a compose file given as text.
    pub fn up_text(name: &str, yaml: &str, env: &[(&str, String)]) -> Compose {
        let dir = TempDir::new("compose");
        let file = dir.0.join("docker-compose.yml");
        std::fs::write(&file, yaml).expect("write the compose file");
        let mut compose = Compose {
            project: unique(name),
            file,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            _dir: None,
        };
        compose._dir = Some(dir);
        compose.start();
        compose
    }

    fn command(&self) -> Command {
        let mut command = if Command::new("docker-compose")
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            Command::new("docker-compose")
        } else {
            let mut command = Command::new("docker");
            command.arg("compose");
            command
        };
        command
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(&self.file)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn start(&self) {
        run(self.command().args(["up", "--detach"]));
    }

    /// `docker ps -a` of the project: one `NAME STATUS` line per container.
    pub fn status(&self) -> String {
        let out = run(Command::new("docker").args([
            "ps",
            "--all",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--format",
            "{{.Names}} {{.Status}}",
        ]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (up to a minute, polling) until `ready` holds for the status.
    pub fn wait_until(&self, what: &str, ready: impl Fn(&str) -> bool) {
        let mut status = String::new();
        for _ in 0..120 {
            status = self.status();
            if ready(&status) {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("the stack never became {what}; last status:\n{status}");
    }

    /// The name of the container of `service`.
    pub fn container(&self, service: &str) -> String {
        let out = run(Command::new("docker").args([
            "ps",
            "--all",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.Names}}",
        ]));
        let names = String::from_utf8_lossy(&out.stdout);
        names
            .lines()
            .next()
            .unwrap_or_else(|| panic!("no container for service {service}"))
            .to_owned()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self
            .command()
            .args(["down", "--volumes", "--remove-orphans", "--timeout", "1"])
            .output();
    }
}

/// A port nobody listens on right now, for a stack to publish.
pub fn free_port() -> u16 {
    crate::prometheus::free_port().port()
}
