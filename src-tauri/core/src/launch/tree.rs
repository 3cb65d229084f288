//! Every process an attempt started, wherever it went: a descendant that left the attempt's process group
//! (`setsid`, a daemonising double fork) is out of `killpg`'s reach, so the launcher follows the tree itself.
//!
//! - The launcher is a child subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`, Linux 3.4): a process whose parent
//!   dies is re-parented to the launcher instead of init, so it stays findable.
//! - A process belongs to the attempt when its parent chain (`ppid`, field 4 of `/proc/PID/stat`) leads to
//!   the attempt's leader, or to a child of the launcher that carries the attempt's tag in its environment
//!   (`/proc/PID/environ`; an orphan re-parented to the launcher has lost its parent chain, not its
//!   environment). [`Tree::scan`] runs while the attempt goes, so a process seen once is remembered even after
//!   its parent is gone.
//! - A process is known by its pid and its start time (field 22, clock ticks since boot): a pid the kernel has
//!   reused for an unrelated process is never signalled ([`ProcessStamp`]).
//! - Orphans re-parented to the launcher are reaped once killed ([`Tree::reap`]), so a long-lived app does not
//!   collect zombies. Only processes of the attempt are reaped: the launcher's other children (another run's
//!   leader, waited for by its own thread) are never touched.
//!
//! Limits: a descendant that both leaves the tree and clears its environment before the launcher's next scan
//! (every [`SCAN_EVERY`]) is not found; nothing short of a cgroup would. The subreaper flag holds for the
//! whole launcher process: in the app, an orphan of some other child (a helper that daemonises) also comes
//! back to the app after a run has started, and is not reaped (it cannot be told from a child another thread
//! waits for) until the app exits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The real /proc, for the launcher (tests of the parsing use their own files).
pub const PROC_ROOT: &str = "/proc";

/// How often a running attempt's tree is scanned for new processes.
pub const SCAN_EVERY: Duration = Duration::from_millis(200);

/// A process, told apart from a later process that got the same pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(deny_unknown_fields)]
pub struct ProcessStamp {
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat`: when it started, in clock ticks since boot.
    #[ts(type = "number")]
    pub start_ticks: u64,
}

impl ProcessStamp {
    /// The stamp of a process that exists now.
    pub fn of(proc_root: &Path, pid: u32) -> Option<Self> {
        read_stat(proc_root, pid).map(|s| ProcessStamp {
            pid,
            start_ticks: s.start_ticks,
        })
    }

    /// This process.
    pub fn current(proc_root: &Path) -> Option<Self> {
        Self::of(proc_root, std::process::id())
    }

    /// Whether this very process still runs: its pid exists with the same start time and is not a zombie.
    pub fn is_alive(&self, proc_root: &Path) -> bool {
        read_stat(proc_root, self.pid)
            .is_some_and(|s| s.start_ticks == self.start_ticks && !s.is_dead())
    }
}

/// The fields of `/proc/PID/stat` the launcher reads (proc(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub state: char,
    pub ppid: u32,
    pub start_ticks: u64,
}

impl Stat {
    /// A zombie (`Z`) or a process being torn down (`X`): it runs no code and holds no memory.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parse one `/proc/PID/stat` line. The command name (field 2) is in parentheses and may hold spaces and
/// parentheses itself, so fields are counted from the last `)`.
pub fn parse_stat(pid: u32, text: &str) -> Option<Stat> {
    let after = text.get(text.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After comm: state is field 3, ppid 4, starttime 22.
    Some(Stat {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

pub fn read_stat(proc_root: &Path, pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_stat(pid, &text)
}

fn all_stats(proc_root: &Path) -> Vec<Stat> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| read_stat(proc_root, pid))
        .collect()
}

/// Whether `environ` (NUL-separated `NAME=VALUE`) holds exactly `name=value`.
fn environ_has(environ: &[u8], name: &str, value: &str) -> bool {
    let wanted = format!("{name}={value}");
    environ
        .split(|b| *b == 0)
        .any(|entry| entry == wanted.as_bytes())
}

/// Make this process a child subreaper, so orphaned descendants are re-parented to it. Returns false where the
/// kernel refuses (or is not Linux); the launcher then still kills the process group and the tree it saw.
pub fn become_subreaper() -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag on this process.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The processes of one attempt.
#[derive(Debug)]
pub struct Tree {
    proc_root: PathBuf,
    /// The launcher: orphans are re-parented to it.
    me: u32,
    leader: ProcessStamp,
    /// `NAME=VALUE` every process of the attempt inherits from the launcher.
    tag: Option<(String, String)>,
    /// Every process seen in the tree, by pid, with its start time.
    seen: BTreeMap<u32, u64>,
    last_scan: Option<Instant>,
}

impl Tree {
    pub fn new(proc_root: &Path, leader: ProcessStamp, tag: Option<(String, String)>) -> Self {
        Tree {
            proc_root: proc_root.to_path_buf(),
            me: std::process::id(),
            leader,
            tag,
            seen: BTreeMap::new(),
            last_scan: None,
        }
    }

    /// Scan when the last scan is older than [`SCAN_EVERY`].
    pub fn scan_now_and_then(&mut self) {
        if self.last_scan.is_none_or(|at| at.elapsed() >= SCAN_EVERY) {
            self.scan();
        }
    }

    /// Remember every process now in the tree: descendants of the leader, and of any child of the launcher
    /// that carries the tag. Returns the live ones (not the leader).
    pub fn scan(&mut self) -> Vec<ProcessStamp> {
        self.last_scan = Some(Instant::now());
        let stats = all_stats(&self.proc_root);
        let mut children: BTreeMap<u32, Vec<&Stat>> = BTreeMap::new();
        for stat in &stats {
            children.entry(stat.ppid).or_default().push(stat);
        }
        let mut roots = vec![self.leader.pid];
        if let Some((name, value)) = &self.tag {
            for orphan in children.get(&self.me).into_iter().flatten() {
                if orphan.pid == self.leader.pid {
                    continue;
                }
                let environ =
                    std::fs::read(self.proc_root.join(orphan.pid.to_string()).join("environ"))
                        .unwrap_or_default();
                if environ_has(&environ, name, value) {
                    roots.push(orphan.pid);
                }
            }
        }
        // Processes seen before that are still there, with the same start time, count as roots too: their
        // descendants are ours even when the chain to the leader was cut.
        for stat in &stats {
            if self.seen.get(&stat.pid) == Some(&stat.start_ticks) {
                roots.push(stat.pid);
            }
        }
        let by_pid: BTreeMap<u32, &Stat> = stats.iter().map(|s| (s.pid, s)).collect();
        let mut visited = BTreeSet::new();
        let mut live = Vec::new();
        while let Some(pid) = roots.pop() {
            if !visited.insert(pid) {
                continue;
            }
            if let Some(stat) = by_pid.get(&pid) {
                if pid != self.leader.pid {
                    self.seen.insert(pid, stat.start_ticks);
                    if !stat.is_dead() {
                        live.push(ProcessStamp {
                            pid,
                            start_ticks: stat.start_ticks,
                        });
                    }
                }
            }
            for child in children.get(&pid).into_iter().flatten() {
                roots.push(child.pid);
            }
        }
        live
    }

    /// Send `signal` to every live process of the tree but the leader (the caller signals the leader's
    /// group). Each pid is checked against its start time right before.
    pub fn signal(&mut self, signal: libc::c_int) -> usize {
        let live = self.scan();
        for process in &live {
            send(&self.proc_root, process, signal);
        }
        live.len()
    }

    /// SIGKILL the tree until nothing of it is left running (a process may fork while its siblings die), for
    /// at most `within`; then reap what was re-parented to the launcher. Returns the processes still alive.
    pub fn kill_all(&mut self, within: Duration) -> Vec<ProcessStamp> {
        let deadline = Instant::now() + within;
        loop {
            let live = self.scan();
            if live.is_empty() {
                break;
            }
            for process in &live {
                send(&self.proc_root, process, libc::SIGKILL);
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.reap(deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(500));
        self.scan()
    }

    /// Reap the zombies of the tree that are the launcher's children (orphans re-parented to it), waiting up to
    /// `within` for the ones still being re-parented. Never the leader: its `Child` is waited for by the caller.
    pub fn reap(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut pending = false;
            for (&pid, &ticks) in &self.seen {
                let Some(stat) = read_stat(&self.proc_root, pid) else {
                    continue;
                };
                if stat.start_ticks != ticks || pid == self.leader.pid {
                    continue;
                }
                if stat.ppid == self.me && stat.is_dead() {
                    reap_one(pid);
                } else if stat.is_dead() {
                    // Its parent (a process of the tree) is dying too; it will be re-parented to us.
                    pending = true;
                }
            }
            if !pending || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

fn send(proc_root: &Path, process: &ProcessStamp, signal: libc::c_int) {
    if !process.is_alive(proc_root) {
        return;
    }
    if let Ok(pid) = libc::pid_t::try_from(process.pid) {
        // SAFETY: kill only sends a signal; ESRCH (already gone) is the expected failure.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

fn reap_one(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        let mut status = 0;
        // SAFETY: waitpid on one pid, without blocking, writes only the status we own.
        unsafe {
            libc::waitpid(pid, &mut status, libc::WNOHANG);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line =
            "4242 (a (b) c) S 17 4242 4242 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let stat = parse_stat(4242, line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 17);
        assert_eq!(stat.start_ticks, 987654);
        assert!(parse_stat(1, "1 (x) S 0").is_none());
    }

    #[test]
    fn environ_matches_whole_entries_only() {
        let raw = b"A=1\0HEADROOM_RUN_ID=run-12\0B=2\0";
        assert!(environ_has(raw, "HEADROOM_RUN_ID", "run-12"));
        assert!(!environ_has(raw, "HEADROOM_RUN_ID", "run-1"));
        assert!(!environ_has(
            b"XHEADROOM_RUN_ID=run-12\0",
            "HEADROOM_RUN_ID",
            "run-12"
        ));
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessStamp::current(Path::new("/proc")).unwrap();
        assert!(me.is_alive(Path::new("/proc")));
        let reused = ProcessStamp {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!reused.is_alive(Path::new("/proc")));
    }
}
