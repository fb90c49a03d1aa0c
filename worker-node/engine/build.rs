//! Obtains the V8 engine: the `mini-racer==0.14.1` wheel from PyPI, whose
//! `libmini_racer.so` carries real V8 14.4. The wheel is fetched with pip,
//! its sha256 checked, and the library plus its ICU data unpacked into
//! `OUT_DIR/v8`, whose path is baked into the crate as `EDGE_V8_BUILD_DIR`.
//! At run time `EDGE_V8_DIR` may point elsewhere (deployments ship the two
//! files next to the binary).
//!
//! Set `EDGE_V8_WHEEL=/path/to/wheel` to build offline from a downloaded wheel.

use std::path::Path;
use std::path::PathBuf;
use std::process::Command;

use sha2::Digest;
use sha2::Sha256;

const PACKAGE: &str = "mini-racer==0.14.1";
const WHEEL: &str = "mini_racer-0.14.1-py3-none-manylinux_2_27_x86_64.whl";
const WHEEL_SHA256: &str = "cdf3a088e1363f16a695288f882abf76b3705b8e1df21418208b87ed010037a4";
const MEMBERS: [&str; 2] = ["libmini_racer.so", "icudtl.dat"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // Without the `v8` feature the crate is types and loader only.
    if std::env::var_os("CARGO_FEATURE_V8").is_none() {
        return;
    }
    println!("cargo:rerun-if-env-changed=EDGE_V8_WHEEL");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let v8_dir = out.join("v8");
    if let Err(message) = obtain(&out, &v8_dir) {
        panic!(
            "\n\nedge-engine could not obtain V8: {message}\n\
             Fix: the build runs `python3 -m pip download --no-deps {PACKAGE}` and needs \
             python3 with pip and access to PyPI. Offline, download {WHEEL} elsewhere and \
             set EDGE_V8_WHEEL=/path/to/{WHEEL}.\n\n"
        );
    }
    println!("cargo:rustc-env=EDGE_V8_BUILD_DIR={}", v8_dir.display());
}

fn obtain(out: &Path, v8_dir: &Path) -> Result<(), String> {
    if MEMBERS.iter().all(|m| v8_dir.join(m).is_file()) {
        return Ok(());
    }
    let wheel = match std::env::var_os("EDGE_V8_WHEEL") {
        Some(path) => PathBuf::from(path),
        None => download(out)?,
    };
    let bytes =
        std::fs::read(&wheel).map_err(|e| format!("cannot read {}: {e}", wheel.display()))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    if digest != WHEEL_SHA256 {
        return Err(format!(
            "{} has sha256 {digest}, expected {WHEEL_SHA256}; refusing to use it",
            wheel.display()
        ));
    }
    unpack(&wheel, v8_dir)
}

fn download(out: &Path) -> Result<PathBuf, String> {
    let dir = out.join("wheel");
    let wheel = dir.join(WHEEL);
    if wheel.is_file() {
        return Ok(wheel);
    }
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
        ])
        .args([
            "--platform",
            "manylinux_2_27_x86_64",
            "--python-version",
            "3.11",
        ])
        .arg("-d")
        .arg(&dir)
        .arg(PACKAGE)
        .output()
        .map_err(|e| format!("cannot run python3 -m pip: {e}"))?;
    if !output.status.success() || !wheel.is_file() {
        return Err(format!(
            "pip download failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(wheel)
}

/// A wheel is a zip archive; python's zipfile module unpacks the two members
/// we need, so the build needs nothing beyond what pip already required.
fn unpack(wheel: &Path, v8_dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(v8_dir)
        .map_err(|e| format!("cannot create {}: {e}", v8_dir.display()))?;
    let script = r#"
import sys, zipfile, os
wheel, dest, *members = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if base in members and "/py_mini_racer/" in "/" + name:
            with z.open(name) as src, open(os.path.join(dest, base + ".part"), "wb") as dst:
                dst.write(src.read())
            os.replace(os.path.join(dest, base + ".part"), os.path.join(dest, base))
"#;
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(wheel)
        .arg(v8_dir)
        .args(MEMBERS)
        .status()
        .map_err(|e| format!("cannot run python3 to unpack the wheel: {e}"))?;
    let missing: Vec<_> = MEMBERS
        .iter()
        .filter(|m| !v8_dir.join(m).is_file())
        .collect();
    if !status.success() || !missing.is_empty() {
        return Err(format!(
            "unpacking {} failed; missing {missing:?}",
            wheel.display()
        ));
    }
    Ok(())
}
