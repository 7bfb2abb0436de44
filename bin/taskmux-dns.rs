fn main() -> std::process::ExitCode {
    taskmux::cli::dns_main(std::env::args_os().skip(1).collect())
}
