//! Floe as a container in the end-to-end tests: the image `scripts/build-image.sh` makes, run
//! with podman (`scripts/podman.sh`: runc, the host's ulimits) on the host network, so the
//! processes reach the test services on loopback as the binary does.

use std::path::Path;
use std::process::Command;

use crate::process::output_ok;
use crate::{floe_bin, repo_root};

/// `scripts/podman.sh`: podman as it works on these machines (installed when missing).
pub fn podman() -> Command {
    Command::new(repo_root().join("scripts/podman.sh"))
}

/// Builds the image of the binary under test as `tag`.
pub fn build_image(tag: &str) -> String {
    let mut cmd = Command::new(repo_root().join("scripts/build-image.sh"));
    output_ok(
        cmd.arg(tag).env("FLOE_BIN", floe_bin()),
        "scripts/build-image.sh",
    );
    tag.to_owned()
}

/// `podman run` of `image` in the foreground (its exit status is floe's; SIGTERM to it reaches
/// floe through tini), named `name`, on the host network, with the job directory `root`
/// mounted read-only at the same path (the config is there) and `env` set.
pub fn run_command(
    image: &str,
    name: &str,
    root: &Path,
    env: &[(String, String)],
    args: &[String],
) -> Command {
    let mut cmd = podman();
    cmd.args(["run", "--rm", "--network", "host", "--name", name])
        .arg("--volume")
        .arg(format!("{0}:{0}:ro", root.display()))
        .arg("--workdir")
        .arg(root);
    for (k, v) in env {
        cmd.arg("--env").arg(format!("{k}={v}"));
    }
    cmd.arg(image).args(args);
    cmd
}

/// Removes a container whatever its state (after a SIGKILL of its `podman run`).
pub fn remove(name: &str) {
    let _ = podman()
        .args(["rm", "--force", "--time", "0", name])
        .output();
}
