//! Load monitoring (docs/legacy.md, "nanny"): the real server's load average, read with `uptime`
//! over rsh/ssh, `rup` or `ruptime`, or any command that prints one of their formats.

use std::time::Duration;

use daemon::process::{ExitStatus, Output, RunError};

use crate::probe::run_program;

/// The command line for `-U`: `none` disables it; `rsh`/`ssh` run `uptime` remotely.
pub fn load_argv(load_cmd: &str, host: &str) -> Option<Vec<String>> {
    if load_cmd == "none" || load_cmd.is_empty() {
        return None;
    }
    let mut argv: Vec<String> = load_cmd.split_whitespace().map(String::from).collect();
    argv.push(host.to_string());
    if load_cmd == "rsh" || load_cmd == "ssh" {
        argv.push("uptime".into());
    }
    Some(argv)
}

/// The 1-minute load average from `uptime`, `rup` or `ruptime` output: the first number
/// after the word `load`. Legacy required a `:` after it and so never read `ruptime`
/// (`load 0.52, ...`).
pub(crate) fn parse_load(output: &str) -> Option<f64> {
    // The word `load`, not `download`.
    let at = output.match_indices("load").map(|(i, _)| i).find(|&i| {
        !output[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric())
    })?;
    let rest = &output[at + 4..];
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    // Only separators may stand between `load` and the number.
    if !rest[..start]
        .chars()
        .all(|c| c.is_alphabetic() || c == ':' || c.is_whitespace())
    {
        return None;
    }
    let num: String = rest[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    num.parse().ok()
}

/// Runs the load command with a timeout; `Err` is the message to log.
pub(crate) fn read_load(argv: &[String], timeout: Duration) -> Result<f64, String> {
    match run_program(argv, timeout) {
        Ok(Output {
            status: ExitStatus::Code(0),
            stdout,
        }) => {
            let text = String::from_utf8_lossy(&stdout);
            parse_load(&text).ok_or_else(|| {
                // The output comes from the real server: shown, never acted on.
                let shown = lvscf::diag::escape_control(text.trim_end());
                format!("bad load average returned: {shown}")
            })
        }
        Err(RunError::TimedOut) => {
            Err(format!("timeout running the following: {}", argv.join(" ")))
        }
        _ => Err(format!(
            "The following exited abnormally: {}",
            argv.join(" ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_output_formats() {
        // procps uptime, busybox uptime, rup, ruptime.
        assert_eq!(
            parse_load(" 10:14:02 up 5 days,  3:10,  2 users,  load average: 0.52, 0.58, 0.59\n"),
            Some(0.52)
        );
        assert_eq!(
            parse_load(" 10:14:02 up  3:10,  load average: 1.07, 0.58, 0.59"),
            Some(1.07)
        );
        assert_eq!(
            parse_load("web1          up  5 days,  3:10,     load average: 2.00, 1.50, 1.00"),
            Some(2.0)
        );
        assert_eq!(
            parse_load("web1          up   5+03:10,     2 users,  load 0.25, 0.58, 0.59"),
            Some(0.25)
        );
        assert_eq!(parse_load("no such host"), None);
        assert_eq!(parse_load("download 3 files"), None);
    }

    #[test]
    fn command_lines() {
        assert_eq!(
            load_argv("ssh", "10.0.0.1").unwrap(),
            ["ssh", "10.0.0.1", "uptime"]
        );
        assert_eq!(load_argv("rup", "10.0.0.1").unwrap(), ["rup", "10.0.0.1"]);
        assert_eq!(
            load_argv("/usr/local/bin/load -q", "h").unwrap(),
            ["/usr/local/bin/load", "-q", "h"]
        );
        assert_eq!(load_argv("none", "h"), None);
    }

    #[test]
    fn reads_a_command_and_enforces_its_timeout() {
        let argv = vec![
            "sh".into(),
            "-c".into(),
            "echo ' 10:00 up 1 day, load average: 3.50, 1, 1'".into(),
        ];
        assert_eq!(read_load(&argv, Duration::from_secs(5)), Ok(3.5));
        let slow = vec!["sleep".into(), "10".into()];
        assert!(read_load(&slow, Duration::from_millis(200))
            .unwrap_err()
            .starts_with("timeout"));
    }

    #[test]
    fn a_hostile_load_answer_is_shown_escaped() {
        let argv = ["printf".to_string(), "\x1b[2Jno load here\\0x".to_string()];
        let e = read_load(&argv, Duration::from_secs(5)).unwrap_err();
        assert_eq!(e, "bad load average returned: \\x1b[2Jno load here<NUL>x");
    }
}
