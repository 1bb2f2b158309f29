fn main() -> std::process::ExitCode {
    podplane::cli::main()
}
