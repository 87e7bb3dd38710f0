//! `levee top` against a real `levee run` fed by the generator: `--once`'s
//! plain table, and the terminal view driven in a tmux pane (keys sent
//! with send-keys, the screen read with capture-pane).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::slow_pipe::mkfifo;
use crate::support::{Running, levee, metrics_addr, scrape, toml_path, wait_until};

/// A pipeline that keeps flowing: the generator at 1000 lines a second
/// through a grep filter into a file output and a blackhole, and into
/// `stuck`, a file output on a named pipe nobody reads, whose small buffer
/// fills and drops (it falls behind).
fn flowing(dir: &Path) -> (Running, String) {
    let fifo = dir.join("stuck.pipe");
    mkfifo(&fifo);
    let config = format!(
        "data_dir = {data}\n[metrics]\nlisten = \"127.0.0.1:0\"\n\
         [sources.gen]\ntype = \"generate\"\ndataset = \"nginx\"\nlines = 100000000\n\
         rate = 1000\ntag = \"nginx.access\"\n\
         parser = {{ type = \"nginx\", format = \"combined_request_time\" }}\n\
         [[filters]]\nmatch = \"**\"\ntype = \"grep\"\nexclude = {{ status = \"^5\" }}\n\
         [outputs.archive]\nmatch = \"**\"\ntype = \"file\"\npath = {out}\n\
         [outputs.void]\nmatch = \"**\"\ntype = \"blackhole\"\n\
         [outputs.stuck]\nmatch = \"**\"\ntype = \"file\"\npath = {fifo}\n\
         buffer = {{ max_bytes = \"1MiB\", batch_max_bytes = \"256KiB\", when_full = \"drop_newest\" }}\n",
        data = toml_path(&dir.join("data")),
        out = toml_path(&dir.join("out.ndjson")),
        fifo = toml_path(&fifo),
    );
    std::fs::write(dir.join("c.toml"), config).unwrap();
    let mut child = levee()
        .args(["run", "-c"])
        .arg(dir.join("c.toml"))
        .env("LEVEE_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let running = Running(child);
    let addr = metrics_addr(&mut stderr);
    // Keep reading its log, so a full pipe never stalls it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    wait_until(Duration::from_secs(30), "no events generated", || {
        let page = scrape(&addr);
        let generated = page
            .lines()
            .find_map(|l| l.strip_prefix("levee_source_events_total{source=\"gen\"} "))
            .and_then(|n| n.trim().parse::<f64>().ok());
        generated.is_some_and(|n| n > 0.0).then_some(())
    });
    (running, addr)
}

/// The table's rows as whitespace-split cells, the name second.
fn rows(screen: &str) -> Vec<Vec<String>> {
    screen
        .lines()
        .filter(|l| {
            ["source ", "filter ", "output "]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| {
            l.split_whitespace()
                // The mark of the row falling behind.
                .filter(|cell| *cell != "!")
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn names(screen: &str) -> Vec<String> {
    rows(screen).into_iter().map(|r| r[1].clone()).collect()
}

/// The events/s in of the row named `name`, if it shows a number.
fn rate_in(screen: &str, name: &str) -> Option<f64> {
    rows(screen)
        .into_iter()
        .find(|r| r[1] == name)
        .and_then(|r| r[2].parse().ok())
}

#[test]
fn top_once_prints_a_row_per_component_with_live_rates() {
    let dir = tempfile::tempdir().unwrap();
    let (_levee, addr) = flowing(dir.path());
    let out = levee()
        .args(["top", "--once", "--every", "1s", "--url"])
        .arg(format!("http://{addr}"))
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.starts_with("(t)ype"), "{table}");
    assert_eq!(
        names(&table),
        ["gen", "1_grep", "archive", "stuck", "void"],
        "{table}"
    );
    // 1000 lines a second, read over about a second.
    let gen_rate = rate_in(&table, "gen").unwrap_or_else(|| panic!("no rate: {table}"));
    assert!((500.0..=1500.0).contains(&gen_rate), "{table}");
    let void = rows(&table).into_iter().find(|r| r[1] == "void").unwrap();
    assert_eq!(
        void[2], "(blackhole)",
        "the plugin beside the name: {table}"
    );
}

#[test]
fn top_once_says_why_when_the_endpoint_cannot_be_read() {
    // A port nothing listens on: one just bound and let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = levee()
        .args(["top", "--once", "--every", "100ms", "--url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("reading http://127.0.0.1:{port}/metrics")),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// A tmux server of the test's own (its own socket), killed at the end.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "tmux is needed to test `levee top` (scripts/test-deps installs it): {version:?}"
        );
        let tmux = Tmux {
            socket: format!("levee-top-test-{}", std::process::id()),
        };
        tmux.ok(&[
            "new-session",
            "-d",
            "-x",
            "160",
            "-y",
            "40",
            "-s",
            "top",
            command,
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
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

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "top"]).status.success()
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
    wait_until(Duration::from_secs(10), "top did not quit on q", || {
        (!tmux.alive()).then_some(())
    });
}
