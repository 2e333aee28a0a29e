//! Real Iris for the tests that check the crate against it: the pinned `marin-iris` wheel in a
//! Python venv under `target/iris/venv`, built by `tests/iris/venv.sh` the first time a test asks
//! for it (a minute or two, from PyPI) and kept between runs.
//!
//! Without Python 3.12 or the wheel (no network to PyPI, say) a test says loudly that it skipped;
//! under `CI=true` it fails instead, since `.ci/run` installs both.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The target directory: `CARGO_TARGET_DIR`, or `target` in the repository.
pub fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The marin-iris version the tests pin (`tests/iris/constraints.txt`).
#[allow(dead_code)] // Each test that includes this module uses its own subset.
pub fn pinned() -> String {
    let constraints =
        std::fs::read_to_string(root().join("tests/iris/constraints.txt")).unwrap_or_default();
    constraints
        .lines()
        .find_map(|line| line.strip_prefix("marin-iris=="))
        .unwrap_or("(unknown)")
        .to_owned()
}

/// The venv's python, building the venv if it is not there yet; `None` if it cannot be had.
/// Built once per test process, whatever the number of threads asking.
pub fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let dir = target().join("iris/venv");
        let output = Command::new("bash")
            .arg(root().join("tests/iris/venv.sh"))
            .arg(&dir)
            .current_dir(root())
            .output()
            .map_err(|err| format!("tests/iris/venv.sh could not run: {err}"))?;
        if !output.status.success() {
            return Err(format!(
                "tests/iris/venv.sh failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let python = dir.join("bin/python");
        if python.exists() {
            Ok(python)
        } else {
            Err(format!("{} does not exist", python.display()))
        }
    });
    match found {
        Ok(python) => Some(python.clone()),
        Err(why) => {
            skip(why);
            None
        }
    }
}

/// Says loudly that a test did not run, or fails it under `CI=true`.
pub fn skip(why: &str) {
    let message = format!("SKIPPED: real Iris is not available here: {why}");
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{message} (CI=true: .ci/run installs it, so this is a failure)");
    }
    eprintln!("\n{}\n{message}\n{}\n", "!".repeat(78), "!".repeat(78));
}
