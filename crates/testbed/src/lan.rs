//! A small LAN of network namespaces on the host, for tests that need real sockets,
//! addresses and links but no IPVS (pulse, send_arp): a bridge ("switch") and three
//! hosts, `d1` and `d2` (the directors, 192.168.77.10 and .11, 2001:db8:77::10 and ::11)
//! and `obs` (an observer, .50), each with `eth0` on the bridge; frames captured on any
//! host. Needs root (the README's test command runs as root). Removed on drop.

use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

static COUNTER: AtomicU32 = AtomicU32::new(0);

const D1: &str = "192.168.77.10";
const D2: &str = "192.168.77.11";

/// `ip ARGS`; panics with its output if it fails.
pub fn ip(args: &[&str]) -> String {
    let mut full = vec!["ip"];
    full.extend_from_slice(args);
    crate::sh(&full)
}

/// A bridge ("switch") with three hosts: d1, d2 (the directors) and obs (the observer),
/// each with `eth0` on the bridge. Removed on drop.
pub struct Lan {
    pub prefix: String,
}

impl Lan {
    pub fn create() -> Lan {
        let prefix = format!(
            "p{}x{}",
            std::process::id() % 100000,
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let lan = Lan { prefix };
        let sw = lan.ns("sw");
        ip(&["netns", "add", &sw]);
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &sw, "link", "set", "br0", "up"]);
        for (host, addr) in [("d1", D1), ("d2", D2), ("obs", "192.168.77.50")] {
            let ns = lan.ns(host);
            ip(&["netns", "add", &ns]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            let port = lan.port(host);
            ip(&[
                "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip(&["link", "set", &port, "netns", &sw]);
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            let v6 = format!("2001:db8:77::{}/64", addr.rsplit('.').next().unwrap());
            ip(&["-n", &ns, "addr", "add", &v6, "dev", "eth0", "nodad"]);
        }
        lan
    }

    pub fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }

    /// The switch-side end of a host's cable.
    pub fn port(&self, host: &str) -> String {
        format!("{}{host}", &self.prefix[..self.prefix.len().min(9)])
    }

    pub fn exec(&self, host: &str, args: &[&str]) -> String {
        let ns = self.ns(host);
        let mut full = vec!["netns", "exec", ns.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// `ip addr show dev DEV` in a host.
    pub fn addresses_of(&self, host: &str, dev: &str) -> String {
        ip(&["-n", &self.ns(host), "addr", "show", "dev", dev])
    }

    /// `ip addr show dev eth0` in a host.
    pub fn addresses(&self, host: &str) -> String {
        self.addresses_of(host, "eth0")
    }

    /// The MAC of a host's `eth0`, as `ip` prints it (`aa:bb:cc:dd:ee:ff`).
    pub fn mac(&self, host: &str) -> String {
        let text = ip(&["-n", &self.ns(host), "link", "show", "eth0"]);
        let at = text.find("link/ether ").expect("an Ethernet link") + 11;
        text[at..at + 17].to_string()
    }

    /// Unplugs a host's cable from the switch (its carrier goes down).
    pub fn cable(&self, host: &str, up: bool) {
        ip(&[
            "-n",
            &self.ns("sw"),
            "link",
            "set",
            &self.port(host),
            if up { "up" } else { "down" },
        ]);
    }

    /// Separates a host from the switch while its carrier stays up (a partition).
    pub fn partition(&self, host: &str, apart: bool) {
        let port = self.port(host);
        if apart {
            ip(&["-n", &self.ns("sw"), "link", "set", &port, "nomaster"]);
        } else {
            ip(&["-n", &self.ns("sw"), "link", "set", &port, "master", "br0"]);
        }
    }

    /// Runs `f` on a thread inside a host's namespace.
    pub fn in_ns<T: Send + 'static>(
        &self,
        host: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let ns = self.ns(host);
        std::thread::spawn(move || {
            crate::enter_netns(&ns);
            f()
        })
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for host in ["d1", "d2", "obs", "sw"] {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(host)])
                .status();
        }
    }
}

/// Frames seen by a host (AF_PACKET, every protocol), collected until stopped.
pub struct Capture {
    stop: Arc<AtomicBool>,
    frames: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    pub fn start(lan: &Lan, host: &str) -> Capture {
        let stop = Arc::new(AtomicBool::new(false));
        let frames = Arc::new(Mutex::new(Vec::new()));
        let (s, f) = (stop.clone(), frames.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = lan.in_ns(host, move || {
            use nix::sys::socket::{
                recv, setsockopt, socket, sockopt, AddressFamily, MsgFlags, SockFlag, SockProtocol,
                SockType,
            };
            let fd = socket(
                AddressFamily::Packet,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::EthAll,
            )
            .expect("packet socket");
            setsockopt(
                &fd,
                sockopt::ReceiveTimeout,
                &nix::sys::time::TimeVal::new(0, 50_000),
            )
            .unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 2048];
            while !s.load(Ordering::SeqCst) {
                if let Ok(n) = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()) {
                    f.lock().unwrap().push(buf[..n].to_vec());
                }
            }
        });
        ready_rx.recv().unwrap();
        Capture {
            stop,
            frames,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.frames.lock().unwrap())
    }
}

/// The ARP replies among captured frames (gratuitous ARPs as legacy `send_arp` sends them).
pub fn arp_replies(frames: &[Vec<u8>]) -> Vec<Vec<u8>> {
    frames
        .iter()
        .filter(|f| f.len() >= 42 && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2])
        .cloned()
        .collect()
}
