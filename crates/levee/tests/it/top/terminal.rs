//! `levee top` in a terminal: a tmux pane of its own, keys sent with
//! send-keys, the screen read with capture-pane.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::{flowing, names, rate_in};
use crate::support::wait_until;

/// A tmux server of the test's own, its socket in a folder of its own
/// (tests run side by side; nothing is left in tmux's folder), killed at
/// the end.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "tmux is needed to test `levee top` (scripts/test-deps installs it): {version:?}"
        );
        let tmux = Tmux {
            dir: tempfile::tempdir().unwrap(),
        };
        // The pane's shell writes top's exit status: tmux's own
        // `pane_dead_status` is sometimes never filled in.
        let command = format!("{command}; echo $? > {}", tmux.status_file().display());
        tmux.ok(&[
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "40",
            "-s",
            "top",
            &command,
        ]);
        // The pane stays when top ends, so whether it left the alternate
        // screen can be read.
        tmux.ok(&["set-option", "-w", "-t", "top", "remain-on-exit", "on"]);
        tmux
    }

    fn status_file(&self) -> std::path::PathBuf {
        self.dir.path().join("status")
    }

    /// The process id of top: the child of the pane's shell.
    fn top_pid(&self) -> String {
        let shell = self.ok(&["display", "-p", "-t", "top", "#{pane_pid}"]);
        let shell = shell.trim();
        let children = std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
            .unwrap_or_default();
        let pid = children.split_whitespace().next();
        pid.unwrap_or_else(|| panic!("no process under the pane's shell {shell}"))
            .to_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.dir.path().join("socket"))
            .args(args)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Waits until the screen passes `check`; fails with the screen.
    fn until(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether top still runs in the pane.
    fn alive(&self) -> bool {
        self.ok(&["display", "-p", "-t", "top", "#{pane_dead}"])
            .trim()
            == "0"
    }

    /// Waits for top to end; fails unless it exited with success and put
    /// the terminal back (left the alternate screen).
    fn ended_cleanly(&self, what: &str) {
        let status = wait_until(Duration::from_secs(10), what, || {
            std::fs::read_to_string(self.status_file())
                .ok()
                .filter(|s| s.ends_with('\n'))
        });
        assert_eq!(status.trim(), "0", "top's exit status");
        wait_until(Duration::from_secs(10), "the pane did not end", || {
            (!self.alive()).then_some(())
        });
        let alternate = self.ok(&["display", "-p", "-t", "top", "#{alternate_on}"]);
        assert_eq!(alternate.trim(), "0", "the alternate screen left on");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn top_in_a_terminal_shows_rates_sorts_filters_and_quits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut running, addr) = flowing(dir.path());
    let command = format!(
        "{} top --every 500ms --url http://{addr}",
        env!("CARGO_BIN_EXE_levee")
    );
    let tmux = Tmux::start(&command);

    // Live rates: the generator's events/s in, once two readings are in.
    let screen = tmux.until("no rate on the gen row", |s| {
        rate_in(s, "gen").is_some_and(|r| r > 0.0)
    });
    assert_eq!(
        names(&screen),
        ["gen", "1_grep", "archive", "stuck", "void"],
        "{screen}"
    );
    assert!(
        screen.contains(&format!("levee top  http://{addr}/metrics")),
        "{screen}"
    );

    // `n` sorts by name, `n` again reverses.
    tmux.keys(&["n"]);
    tmux.until("not sorted by name", |s| {
        names(s) == ["1_grep", "archive", "gen", "stuck", "void"]
    });
    tmux.keys(&["n"]);
    tmux.until("not sorted by name, reversed", |s| {
        names(s) == ["void", "stuck", "gen", "archive", "1_grep"]
    });

    // `/` then text filters (by name, type or plugin); Esc clears.
    tmux.keys(&["/", "blackh"]);
    tmux.until("not filtered", |s| {
        names(s) == ["void"] && s.contains("filter: blackh_")
    });
    tmux.keys(&["Enter"]);
    tmux.until("the filter not kept", |s| {
        names(s) == ["void"] && s.contains("filter: blackh  q quits")
    });
    tmux.keys(&["Escape"]);
    tmux.until("the filter not cleared", |s| names(s).len() == 5);

    // The output on the pipe nobody reads: its buffer full, its row
    // marked and said to fall behind; the others not.
    let screen = tmux.until("stuck not falling behind", |s| {
        s.contains("output stuck is falling behind: its buffer is nearly full")
    });
    let marked: Vec<&str> = screen.lines().filter(|l| l.contains("! ")).collect();
    assert_eq!(marked.len(), 1, "{screen}");
    assert!(marked[0].starts_with("output  ! stuck (file)"), "{screen}");

    // The endpoint gone: said on screen, and top keeps trying.
    let _ = running.0.kill();
    let _ = running.0.wait();
    tmux.until("no word of the endpoint gone", |s| {
        s.contains("no answer (last read") && s.contains("Connection refused")
    });
    assert!(tmux.alive(), "top exited when the endpoint went away");

    // `q` quits: the pane's only program ends, and the session with it.
    tmux.keys(&["q"]);
    tmux.ended_cleanly("top did not quit on q");
}

/// A `kill` ends it as `q` does: the terminal put back, exit 0.
#[test]
fn top_in_a_terminal_ends_cleanly_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmux = Tmux::start(&format!(
        "{} top --every 200ms --url http://127.0.0.1:{port}",
        env!("CARGO_BIN_EXE_levee")
    ));
    tmux.until("no word of the endpoint unreachable", |s| {
        s.contains("no answer (never read yet)")
    });
    let status = Command::new("kill")
        .args(["-TERM", &tmux.top_pid()])
        .status()
        .unwrap();
    assert!(status.success());
    tmux.ended_cleanly("top did not end on SIGTERM");
}
