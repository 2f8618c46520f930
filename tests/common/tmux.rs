//! The tmux driver of the end-to-end TUI tests: one tmux server (`tmux -L <unique>`) with
//! one session `t` running a shell line, driven by send-keys and read by capture-pane,
//! killed on drop. Screens are polled against a deadline instead of slept on.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::free_port;

pub const TMUX: &str = "/usr/bin/tmux";

/// One tmux server with one session, killed on drop.
pub struct Tmux {
    socket: String,
    poll: Duration,
}

impl Tmux {
    /// Starts `cmd` (a shell command line) in a `w`x`h` session on the server
    /// `promtui-<name>-<pid>-<free port>`. The pane stays after the program exits, to
    /// inspect what it left behind.
    pub fn start(name: &str, w: u16, h: u16, cmd: &str) -> Tmux {
        let t = Tmux {
            socket: format!("promtui-{name}-{}-{}", std::process::id(), free_port()),
            poll: Duration::from_millis(50),
        };
        let ok = t
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "t"])
            .args(["-x", &w.to_string(), "-y", &h.to_string()])
            .arg(cmd)
            .env("TERM", "xterm-256color")
            .status()
            .expect("run tmux");
        assert!(ok.success(), "tmux new-session failed");
        t.run(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        t
    }

    /// How often [`Tmux::wait`] captures the screen (50 ms unless set).
    pub fn polling_every(mut self, poll: Duration) -> Tmux {
        self.poll = poll;
        self
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(TMUX);
        c.args(["-L", &self.socket]);
        c
    }

    /// Runs a tmux command on this server; its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn capture(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "t"])
    }

    /// Sends keys (tmux key names: `Enter`, `Escape`, `Tab`, `C-t`, ...).
    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "t"];
        a.extend_from_slice(keys);
        self.run(&a);
    }

    /// Types `s` literally.
    pub fn text(&self, s: &str) {
        self.run(&["send-keys", "-t", "t", "-l", s]);
    }

    /// Runs a palette command: `:<c>` then Enter.
    pub fn command(&self, c: &str) {
        self.text(&format!(":{c}"));
        self.keys(&["Enter"]);
    }

    /// A tmux format (`#{alternate_on}`, `#{pane_dead}`) expanded for the pane.
    pub fn format(&self, f: &str) -> String {
        self.run(&["display-message", "-p", "-t", "t", f])
            .trim()
            .to_string()
    }

    /// Polls the screen until `pred` holds; panics with the screen after `timeout`.
    pub fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.capture();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(self.poll);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// The shell line running promtui with a temp HOME, then printing its exit code and
/// keeping the pane open.
pub fn promtui_line(home: &Path, args: &str) -> String {
    promtui_line_with(home, "", args, "")
}

/// [`promtui_line`] with `vars` (`NAME=value ...`) in promtui's environment and the shell
/// commands `then` (each ending in `;`) run after the exit code is printed.
pub fn promtui_line_with(home: &Path, vars: &str, args: &str, then: &str) -> String {
    let vars = if vars.is_empty() {
        String::new()
    } else {
        format!("{vars} ")
    };
    let then = if then.is_empty() {
        String::new()
    } else {
        format!(" {then}")
    };
    format!(
        "env HOME={home} {vars}LANG=C.UTF-8 {bin} {args}; echo EXITED rc=$?;{then} sleep 600",
        home = home.display(),
        bin = env!("CARGO_BIN_EXE_promtui"),
    )
}
