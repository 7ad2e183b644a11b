//! The live status page, loaded by headless Chromium from a follower of
//! a real 3-member cluster: it names the leader, and after the leader is
//! killed it names the new one and shows the old one unreachable, by
//! itself (the page polls; the test only reloads it to read the DOM).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::Cluster;

/// Chromium: `PAXON_CHROMIUM`, else `chromium` (Debian's package, as
/// scripts/install-deps.sh installs it) or `chromium-browser` on PATH.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("PAXON_CHROMIUM") {
        return path.into();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!(
        "headless Chromium is needed: install Debian's chromium (scripts/install-deps.sh) \
         or set PAXON_CHROMIUM"
    );
}

/// Runs headless Chromium on `url` with `args`; its stdout (bounded).
fn run_chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        // The page's timers and fetches run before the DOM is taken.
        .arg("--virtual-time-budget=5000")
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut pipe = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = pipe.read_to_string(&mut out);
        out
    });
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().expect("reader")
}

/// The text of the element `<… id="leader" …>NAME</…>`.
fn leader_on(dom: &str) -> Option<&str> {
    let at = dom.find("id=\"leader\"")?;
    let rest = &dom[at..];
    let start = rest.find('>')? + 1;
    let end = rest[start..].find('<')? + start;
    Some(&rest[start..end])
}

/// How many times the page polled and redrew itself since it loaded.
fn polls_on(dom: &str) -> u32 {
    let at = dom.find("data-polls=\"").expect("the page polled") + "data-polls=\"".len();
    let end = at + dom[at..].find('"').expect("closing quote");
    dom[at..end].parse().expect("a count")
}

/// The role shown in member `name`'s row ("leader", "follower", or
/// "unreachable").
fn role_of<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let at = dom.find(&format!("data-member=\"{name}\""))?;
    let row = &dom[at..at + dom[at..].find("</tr>")?];
    let pill = row.find("class=\"pill")?;
    let start = pill + row[pill..].find('>')? + 1;
    let end = start + row[start..].find('<')?;
    Some(&row[start..end])
}

/// Loads the page until `done` holds (bounded); the last DOM.
fn poll_page(profile: &Path, url: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let dom = run_chromium(profile, &["--dump-dom"], url);
        if done(&dom) {
            return dom;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the page never showed {what}; last DOM:\n{dom}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn the_status_page_shows_the_new_leader_after_the_leader_is_killed() {
    let mut cluster = Cluster::start(3, "ops-page");
    let profile = cluster.dir.join("chromium-profile");
    let names: Vec<String> = cluster.members.iter().map(|m| m.name.clone()).collect();
    let old = cluster.leader().expect("a leader");
    let viewer = (old + 1) % 3;
    let url = format!("http://127.0.0.1:{}/", cluster.members[viewer].client_port);

    let dom = poll_page(&profile, &url, "the leader", |dom| {
        leader_on(dom) == Some(names[old].as_str())
            && names.iter().all(|n| role_of(dom, n).is_some())
    });
    assert_eq!(role_of(&dom, &names[old]), Some("leader"));
    assert_eq!(
        names
            .iter()
            .filter(|n| role_of(&dom, n) == Some("follower"))
            .count(),
        2
    );

    cluster.kill(old);
    let dom = poll_page(&profile, &url, "a new leader", |dom| {
        let shown = leader_on(dom);
        shown.is_some_and(|l| l != names[old] && names.iter().any(|n| n == l))
            && role_of(dom, &names[old]) == Some("unreachable")
            && cluster.leader().map(|i| names[i].as_str()) == shown
    });
    let new = leader_on(&dom).expect("a leader").to_string();
    // Within one load the page polled again by itself (5 s of the page's
    // time, one poll a second).
    assert!(polls_on(&dom) >= 2, "the page redraws itself");
    assert_eq!(role_of(&dom, &new), Some("leader"));
    assert!(
        dom.contains(&format!("{new} leads (ballot round")),
        "the change is listed"
    );

    let shot = cluster.dir.join("status-page.png");
    let arg = format!("--screenshot={}", shot.display());
    run_chromium(&profile, &[&arg, "--window-size=1280,560"], &url);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // PAXON_STATUS_SCREENSHOT=docs/status-page.png refreshes the docs' picture.
    if let Some(keep) = std::env::var_os("PAXON_STATUS_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("keep the screenshot");
    }
}
