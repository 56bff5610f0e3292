//! `otto-hooks completions <shell>`: clap_complete's scripts, with a fix.
//!
//! clap_complete (4.6) spells a hyphenated program name two ways in the bash
//! script: the words loop sets `cmd="otto__hooks__subcmd__daemon"` (`-` in
//! the program name becomes `__`), but the `case "${cmd}"` that completes
//! each subcommand is labelled `otto__subcmd__hooks__subcmd__daemon)` (`-`
//! becomes `__subcmd__`). Past the first word nothing matches, so
//! `otto-hooks daemon st<TAB>` completed nothing (clap-rs/clap#6386,
//! clap-rs/clap#6421). [`fix_bash_labels`] respells the labels the way the
//! loop spells `cmd`; once clap_complete is fixed it finds nothing to change.
//! zsh, fish, elvish and PowerShell scripts are not affected.

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

/// The program name the scripts complete.
const BIN: &str = "otto-hooks";

/// The completion script for `shell`.
pub(super) fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    match shell {
        Shell::Bash => fix_bash_labels(&text, BIN),
        _ => text,
    }
}

/// Respells the `case "${cmd}"` labels of a bash script generated for `bin`
/// as the words loop spells `cmd`. Only label lines (indented, ending in
/// `)`, starting with the mis-spelled name) change.
pub(super) fn fix_bash_labels(script: &str, bin: &str) -> String {
    if !bin.contains('-') {
        return script.to_owned();
    }
    // How clap_complete spells the name in `cmd` values and in the labels.
    let right = bin.replace('-', "__");
    let wrong = bin.replace('-', "__subcmd__");
    let mut fixed = String::with_capacity(script.len());
    for line in script.split_inclusive('\n') {
        let body = line.trim_end_matches('\n');
        let label = body.trim_start();
        let indent = &body[..body.len() - label.len()];
        let is_label = !indent.is_empty()
            && label.ends_with(')')
            && label.strip_prefix(&wrong).is_some_and(|rest| {
                rest == ")"
                    || (rest.starts_with("__subcmd__") && !rest.contains(char::is_whitespace))
            });
        if is_label {
            fixed.push_str(indent);
            fixed.push_str(&right);
            fixed.push_str(&label[wrong.len()..]);
            fixed.push_str(&line[body.len()..]);
        } else {
            fixed.push_str(line);
        }
    }
    fixed
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The `cmd="…"` values the words loop assigns.
    fn cmd_values(script: &str) -> BTreeSet<String> {
        script
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd=\""))
            .filter_map(|rest| rest.strip_suffix('"'))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The labels of the `case "${cmd}"` block.
    fn cmd_labels(script: &str) -> BTreeSet<String> {
        let start = script
            .find("case \"${cmd}\" in")
            .expect("the script dispatches on ${cmd}");
        script[start..]
            .lines()
            .filter(|l| l.starts_with("        ") && !l.starts_with("         "))
            .filter_map(|l| l.trim().strip_suffix(')'))
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_bash_subcommand_label_matches_a_cmd_value_of_the_words_loop() {
        let text = script(Shell::Bash);
        let values = cmd_values(&text);
        let labels = cmd_labels(&text);
        assert!(values.contains("otto__hooks__subcmd__daemon__subcmd__status"));
        assert!(values.contains("otto__hooks__subcmd__run__subcmd__policies"));
        assert_eq!(labels, values, "labels and cmd values differ");
    }

    #[test]
    fn the_fix_respells_only_labels() {
        let broken = "\
    for i in x; do
        case \"${cmd},${i}\" in
            otto__hooks,daemon)
                cmd=\"otto__hooks__subcmd__daemon\"
                ;;
        esac
    done
    case \"${cmd}\" in
        otto__hooks)
            opts=\"otto__subcmd__hooks__subcmd__x)\"
            ;;
        otto__subcmd__hooks__subcmd__daemon)
            ;;
    esac
";
        let fixed = fix_bash_labels(broken, "otto-hooks");
        assert_eq!(
            fixed,
            broken.replace(
                "        otto__subcmd__hooks__subcmd__daemon)",
                "        otto__hooks__subcmd__daemon)"
            )
        );
        // Nothing else changed: the option text keeps its spelling.
        assert!(fixed.contains("opts=\"otto__subcmd__hooks__subcmd__x)\""));
    }

    #[test]
    fn a_script_already_right_is_left_alone() {
        let text = script(Shell::Bash);
        assert_eq!(fix_bash_labels(&text, BIN), text);
        assert_eq!(fix_bash_labels("a\n  b-c)\n", "plain"), "a\n  b-c)\n");
    }
}
