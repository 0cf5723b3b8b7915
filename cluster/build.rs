//! The git revision the binaries were built from, for `smallfiles_build_info`: the
//! `SMALLFILES_REVISION` environment variable when the build sets one (a container build
//! without `.git`), else `git rev-parse` of the checkout, else "unknown".

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SMALLFILES_REVISION");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Rebuilt when the checkout moves to another commit: HEAD names a branch, whose ref file
    // (or packed-refs) moves at each commit.
    let mut watched = vec![
        ".git/HEAD".to_string(),
        ".git/index".into(),
        ".git/packed-refs".into(),
    ];
    if let Ok(head) = std::fs::read_to_string(root.join(".git/HEAD")) {
        if let Some(r) = head.trim().strip_prefix("ref: ") {
            watched.push(format!(".git/{r}"));
        }
    }
    for f in watched {
        let p = root.join(f);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    let revision = std::env::var("SMALLFILES_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(|| git_revision(&root))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SMALLFILES_REVISION={revision}");
}

/// The short commit id, with `-dirty` when tracked files differ from it.
fn git_revision(root: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"])?;
    let head = String::from_utf8(head.stdout).ok()?.trim().to_string();
    let dirty = git(&["diff-index", "--quiet", "HEAD", "--"]).is_none();
    Some(if dirty { format!("{head}-dirty") } else { head })
}
