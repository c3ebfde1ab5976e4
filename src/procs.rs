//! Process-tree bookkeeping from /proc, so that nothing the learner's service started
//! outlives the run — not even a child that left its process group with setsid.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Root pids of the processes labgrade runs right now (the shared service, a startup
/// instance, a test command). Cleaning up after one must not touch the others' trees.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

pub fn register(pid: i32) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).insert(pid);
}

pub fn unregister(pid: i32) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid);
}

fn others(me: Option<i32>) -> Vec<i32> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().filter(|p| Some(*p) != me).collect()
}

/// Become a child subreaper: orphans of our descendants are re-parented to us instead of
/// init, so they stay findable (and killable) as our descendants.
pub fn become_subreaper() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes plain integers and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Parent pid of each live process, read from /proc/<pid>/stat.
fn parents() -> HashMap<i32, i32> {
    let mut map = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return map };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(ppid) = parse_ppid(&stat)
        {
            map.insert(pid, ppid);
        }
    }
    map
}

/// The ppid field of /proc/<pid>/stat; the command name may hold spaces and parentheses,
/// so parse from the last ')'.
pub fn parse_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The state field of /proc/<pid>/stat (after the last ')').
pub fn parse_state(stat: &str) -> Option<char> {
    stat[stat.rfind(')')? + 1..].split_whitespace().next()?.chars().next()
}

/// Has `pid` exited and not been reaped yet?
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_state) == Some('Z')
}

/// All descendants of `root` (children first, then theirs), excluding `root`.
pub fn descendants(root: i32) -> Vec<i32> {
    descendants_in(&parents(), root)
}

pub fn descendants_in(parents: &HashMap<i32, i32>, root: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        let mut kids: Vec<i32> = parents.iter().filter(|(_, pp)| **pp == p).map(|(c, _)| *c).collect();
        kids.sort_unstable();
        out.extend(&kids);
        frontier.extend(kids);
    }
    out
}

/// After stopping the process rooted at `root`: SIGKILL every descendant of labgrade that is
/// not `keep` and not in the tree of another live process (see [`register`]), and reap the
/// ones that are our own children (orphans handed to us as subreaper), leaving no zombie.
pub fn kill_strays(root: Option<i32>, keep: &[i32]) -> usize {
    let others = others(root);
    let mut spared: Vec<i32> = keep.to_vec();
    spared.extend(&others);
    let parents_now = parents();
    for o in &others {
        spared.extend(descendants_in(&parents_now, *o));
    }
    kill_descendants_except(&spared)
}

fn kill_descendants_except(keep: &[i32]) -> usize {
    use nix::sys::signal::{Signal, kill};
    use nix::sys::wait::{WaitPidFlag, waitpid};
    use nix::unistd::Pid;
    let me = std::process::id() as i32;
    let mut killed = 0;
    // A dying process can fork once more; a few rounds catch that.
    for _ in 0..5 {
        let parents = parents();
        let victims: Vec<i32> = descendants_in(&parents, me).into_iter().filter(|p| !keep.contains(p)).collect();
        if victims.is_empty() {
            break;
        }
        for &p in &victims {
            // A zombie has already exited: it only waits to be reaped (below), so it is not
            // counted as a leftover process that had to be killed.
            let zombie = is_zombie(p);
            if kill(Pid::from_raw(p), Signal::SIGKILL).is_ok() && !zombie {
                killed += 1;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        for &p in &victims {
            if parents.get(&p) == Some(&me) {
                let _ = waitpid(Pid::from_raw(p), Some(WaitPidFlag::WNOHANG));
            }
        }
    }
    killed
}

/// Reap orphans re-parented to us (we are their subreaper) that have exited, except `keep`
/// and the processes labgrade itself runs (tokio reaps those and wants their status).
pub fn reap_orphans(keep: &[i32]) {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    use nix::unistd::Pid;
    let me = std::process::id() as i32;
    let live = others(None);
    for (pid, ppid) in parents() {
        if ppid == me && !keep.contains(&pid) && !live.contains(&pid) {
            let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_survives_odd_command_names() {
        assert_eq!(parse_ppid("42 (node) S 7 42 42 0"), Some(7));
        assert_eq!(parse_ppid("42 (a) b) (c) S 9 1 1"), Some(9));
        assert_eq!(parse_ppid("garbage"), None);
        assert_eq!(parse_state("42 (a) b) (c) Z 9 1 1"), Some('Z'));
        assert_eq!(parse_state("42 (node) S 7 42 42 0"), Some('S'));
    }

    #[test]
    fn descendants_walk_the_tree() {
        let p: HashMap<i32, i32> = [(2, 1), (3, 2), (4, 2), (5, 3), (9, 8)].into();
        let mut d = descendants_in(&p, 1);
        d.sort();
        assert_eq!(d, vec![2, 3, 4, 5]);
        assert!(descendants_in(&p, 5).is_empty());
    }
}
