//! The merger service is built in its own issue; this binary only reserves its name.

fn main() {
    eprintln!("smallfiles-merger: not implemented yet");
    std::process::exit(2);
}
