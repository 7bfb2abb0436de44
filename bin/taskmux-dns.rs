fn main() -> std::process::ExitCode {
    taskmux::cli::placeholder_main(
        "taskmux-dns",
        "a DNS server for *.localhost",
        std::env::args_os().skip(1).collect(),
    )
}
