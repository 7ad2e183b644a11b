//! A private network of Linux network namespaces, one per member, that the
//! test builds itself (`ip netns`, veth pairs, a bridge) and cuts with
//! blackhole routes: no firewall needed, nothing touched outside it but one
//! veth in the test's own namespace so that clients reach every member.
//!
//! ```text
//!   test (clients) ── veth ──┐
//!   m1 ns: 10.213.S.1 ─ veth ┤ bridge in the hub ns
//!   m2 ns: 10.213.S.2 ─ veth ┤
//!   m3 ns: 10.213.S.3 ─ veth ┘
//! ```
//!
//! A cut from `a` to `b` is a blackhole route to `b`'s address in `a`'s
//! namespace: `a`'s packets to `b` vanish, `b`'s still reach `a` (one-way
//! loss). Clients are never cut: the test watches every member.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Networks made by this test process, numbered for unique names.
static NETWORKS: AtomicU32 = AtomicU32::new(0);

/// The namespaces and links of one cluster.
pub struct Net {
    prefix: String,
    subnet: u8,
    members: usize,
    cut: BTreeSet<(usize, usize)>,
}

/// Runs `ip` with `args`; an error says which command failed and why.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `ip` (Debian package iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Deletes the namespaces left by test processes that died before cleaning
/// up (their names carry the process id).
fn remove_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("pxf-") else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Net {
    /// Builds the namespaces of `members` members, all links up.
    pub fn create(members: usize) -> Result<Net, String> {
        remove_stale();
        let number = NETWORKS.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let subnet = free_subnet(pid, number)?;
        let net = Net {
            prefix: format!("pxf-{pid}-{number}"),
            subnet,
            members,
            cut: BTreeSet::new(),
        };
        net.build(pid % 100_000, number)?;
        Ok(net)
    }

    fn build(&self, short: u32, number: u32) -> Result<(), String> {
        let hub = self.hub();
        ip(&["netns", "add", &hub])?;
        ip(&["-n", &hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &hub, "link", "set", "br0", "up"])?;
        // The test's own end: one veth whose other end is on the bridge.
        let outside = format!("pxf{short}t{number}");
        self.link(&outside, None)?;
        ip(&[
            "addr",
            "add",
            &format!("{}/24", self.test_ip()),
            "dev",
            &outside,
        ])?;
        ip(&["link", "set", &outside, "up"])?;
        for i in 0..self.members {
            let ns = self.ns(i);
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            let inside = format!("pxf{short}m{number}x{i}");
            self.link(&inside, Some(&ns))?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", self.ip(i)),
                "dev",
                &inside,
            ])?;
            ip(&["-n", &ns, "link", "set", &inside, "up"])?;
        }
        Ok(())
    }

    /// A veth pair: `name` stays here (or moves to `ns`), its peer joins
    /// the bridge in the hub namespace.
    fn link(&self, name: &str, ns: Option<&str>) -> Result<(), String> {
        let hub = self.hub();
        let bridge_end = format!("{name}b");
        ip(&[
            "link",
            "add",
            name,
            "type",
            "veth",
            "peer",
            "name",
            &bridge_end,
        ])?;
        ip(&["link", "set", &bridge_end, "netns", &hub])?;
        ip(&["-n", &hub, "link", "set", &bridge_end, "master", "br0"])?;
        ip(&["-n", &hub, "link", "set", &bridge_end, "up"])?;
        if let Some(ns) = ns {
            ip(&["link", "set", name, "netns", ns])?;
        }
        Ok(())
    }

    fn hub(&self) -> String {
        format!("{}-hub", self.prefix)
    }

    /// The namespace of member `i`.
    pub fn ns(&self, i: usize) -> String {
        format!("{}-m{}", self.prefix, i + 1)
    }

    /// The address of member `i`.
    pub fn ip(&self, i: usize) -> String {
        format!("10.213.{}.{}", self.subnet, i + 1)
    }

    fn test_ip(&self) -> String {
        format!("10.213.{}.254", self.subnet)
    }

    /// Packets from `from` to `to` are dropped from now on.
    pub fn cut(&mut self, from: usize, to: usize) -> Result<(), String> {
        if self.cut.insert((from, to)) {
            let dest = format!("{}/32", self.ip(to));
            ip(&["-n", &self.ns(from), "route", "add", "blackhole", &dest])?;
        }
        Ok(())
    }

    /// Packets from `from` to `to` flow again.
    pub fn restore(&mut self, from: usize, to: usize) -> Result<(), String> {
        if self.cut.remove(&(from, to)) {
            let dest = format!("{}/32", self.ip(to));
            ip(&["-n", &self.ns(from), "route", "del", "blackhole", &dest])?;
        }
        Ok(())
    }

    /// Cuts both directions between every member of `side` and every other.
    pub fn isolate(&mut self, side: &[usize]) -> Result<(), String> {
        for a in side.iter().copied() {
            for b in (0..self.members).filter(|b| !side.contains(b)) {
                self.cut(a, b)?;
                self.cut(b, a)?;
            }
        }
        Ok(())
    }

    /// Every link flows again.
    pub fn heal(&mut self) -> Result<(), String> {
        for (from, to) in self.cut.clone() {
            self.restore(from, to)?;
        }
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veths, and with them their peers.
        for i in 0..self.members {
            let _ = ip(&["netns", "del", &self.ns(i)]);
        }
        let _ = ip(&["netns", "del", &self.hub()]);
    }
}

/// A /24 under 10.213.0.0/16 that no route of this namespace uses yet.
fn free_subnet(pid: u32, number: u32) -> Result<u8, String> {
    for attempt in 0..200u32 {
        let subnet = 20 + ((pid + number * 37 + attempt) % 200) as u8;
        let out = Command::new("ip")
            .args(["route", "show", &format!("10.213.{subnet}.0/24")])
            .output()
            .map_err(|e| format!("cannot run `ip` (Debian package iproute2): {e}"))?;
        if out.stdout.is_empty() {
            return Ok(subnet);
        }
    }
    Err("no free 10.213.x.0/24 subnet for the test network".into())
}
