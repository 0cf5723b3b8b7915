//! Shell completions and man pages, generated from the binaries' own CLI definitions: every
//! subcommand and flag is in them, the bash script is valid bash, the page is valid roff.

mod common;

use std::process::Command;

use common::*;

fn run(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn completions_and_man_pages_cover_both_binaries() {
    let merger = sibling_binary("smallfiles-merger");
    let binaries = [
        (
            exporter_bin().to_string(),
            vec!["check", "scan", "demo", "--no-stack"],
        ),
        (
            merger.to_string_lossy().into_owned(),
            vec!["tasks", "list", "show"],
        ),
    ];
    for (bin, words) in &binaries {
        let name = std::path::Path::new(bin)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        let bash = run(bin, &["completions", "bash"]);
        let checked = Command::new("bash")
            .args(["-n", "-c", &bash])
            .output()
            .unwrap();
        assert!(
            checked.status.success(),
            "{name}: bash -n: {}",
            String::from_utf8_lossy(&checked.stderr)
        );
        for shell in ["zsh", "fish", "elvish", "powershell"] {
            assert!(
                run(bin, &["completions", shell]).contains(name),
                "{name} {shell}"
            );
        }
        let man = run(bin, &["man"]);
        assert!(man.contains(&format!(".TH {name} 1")), "{man}");
        for w in words
            .iter()
            .chain(&["--config.file", "--web.listen-address", "completions"])
        {
            let roff = w.replace('-', "\\-");
            assert!(
                bash.contains(w),
                "{name}: {w} missing from the bash completions"
            );
            // The page lists the top-level subcommands and flags, not those of subcommands.
            if !["--no-stack", "list", "show"].contains(w) {
                assert!(man.contains(&roff), "{name}: {w} missing from the man page");
            }
        }
        if smallfiles_testkit::process::tool_available("groff") {
            // As man-db renders it: preconv (-k) for the non-ASCII, warnings on (-ww).
            let page = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(page.path(), &man).unwrap();
            let out = Command::new("groff")
                .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
                .arg(page.path())
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{name}: groff: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // Neither needs a configuration file to say how it is used.
    assert!(run(&binaries[1].0, &["--config.file", "/nonexistent", "man"]).contains(".SH NAME"));
}
