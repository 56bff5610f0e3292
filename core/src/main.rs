fn main() -> std::process::ExitCode {
    use otto_hooks_core::registry::{isolation, runner};
    // The plugin runner of process isolation: hidden, not a command.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == isolation::RUNNER_ARG) {
        let rest: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
        return runner::main(&rest);
    }
    otto_hooks_core::cli::main()
}
