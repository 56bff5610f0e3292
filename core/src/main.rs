fn main() -> std::process::ExitCode {
    otto_hooks_core::cli::main()
}
