//! CPU time of a process (user + system), from `/proc/<pid>/stat`.
//!
//! The figure covers every thread of the process, including threads that already exited.
//! Its resolution is one clock tick (10 ms with the usual `USER_HZ` of 100), so it is only
//! meaningful over runs of a second or more.

use std::time::Duration;

/// Clock ticks per second of `/proc/*/stat` (`USER_HZ`), 100 on every mainstream Linux.
const USER_HZ: u64 = 100;

/// User + system CPU time of process `pid` (`None`: this process). `None` when unavailable
/// (not Linux, or the process is gone).
pub fn process_cpu(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    parse_stat(&stat)
}

/// `utime` and `stime` are fields 14 and 15; the command name (field 2) may contain spaces,
/// so count from its closing parenthesis.
fn parse_stat(stat: &str) -> Option<Duration> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_nanos(
        (utime + stime).saturating_mul(1_000_000_000 / USER_HZ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_name() {
        let line = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0 100";
        assert_eq!(parse_stat(line), Some(Duration::from_secs(3)));
        assert!(process_cpu(None).is_some() || !cfg!(target_os = "linux"));
    }
}
