fn main() -> std::process::ExitCode {
    taskmux::cli::placeholder_main(
        "taskmuxd",
        "the per-machine taskmux supervisor",
        std::env::args_os().skip(1).collect(),
    )
}
