fn main() -> std::process::ExitCode {
    taskmux::cli::placeholder_main(
        "taskmux-run",
        "fire-and-forget job windows",
        std::env::args_os().skip(1).collect(),
    )
}
