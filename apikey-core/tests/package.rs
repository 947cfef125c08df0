//! The published crate carries the built-in table's migrations: every file
//! under `migrations/` is in what `cargo package` would upload, so
//! `embed_migrations!` finds them when the crate is built from crates.io.

use std::path::Path;
use std::process::Command;

/// The files of this crate's package, as `cargo package --list` prints them
/// (paths relative to the crate, `/`-separated).
fn packaged_files() -> Vec<String> {
    let manifest_dir = env!("CARGO_MANIFEST_DIR");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "package",
            "--list",
            "--allow-dirty",
            "--offline",
            "--manifest-path",
        ])
        .arg(Path::new(manifest_dir).join("Cargo.toml"))
        .output()
        .expect("run cargo package --list");
    assert!(
        out.status.success(),
        "cargo package --list failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8 file list")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The files under `dir`, relative to the crate, `/`-separated.
fn files_under(root: &Path, dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("read migrations folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files_under(root, &path, found);
        } else {
            let relative = path.strip_prefix(root).expect("inside the crate");
            let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
            found.push(parts.join("/"));
        }
    }
}

#[test]
fn package_contains_the_builtin_migrations() {
    let listed = packaged_files();
    for backend in ["sqlite", "postgres"] {
        for file in ["up.sql", "down.sql"] {
            let path = format!("migrations/{backend}/2026-11-28-000000_create_api_keys/{file}");
            assert!(listed.contains(&path), "{path} not packaged: {listed:#?}");
        }
    }
    // And every later migration too, whatever its name.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut on_disk = Vec::new();
    files_under(root, &root.join("migrations"), &mut on_disk);
    for path in on_disk {
        assert!(listed.contains(&path), "{path} not packaged: {listed:#?}");
    }
}
