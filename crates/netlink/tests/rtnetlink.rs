//! The engine on a family other than generic netlink, on this host's kernel: rtnetlink
//! link requests (no privileges needed), so the generic parts are proven apart from IPVS.

use std::time::Duration;

use netlink::wire::{self, MessageBuilder};
use netlink::{Connection, Request, Socket};

const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
const RTNLGRP_LINK: u32 = 1;

/// RTM_GETLINK for one interface index (a dump when `None`).
struct GetLink(Option<i32>);

impl Request for GetLink {
    fn encode(&self, buf: &mut Vec<u8>, seq: u32, flags: u16) {
        let mut flags = flags | wire::NLM_F_REQUEST;
        if self.0.is_none() {
            flags |= wire::NLM_F_DUMP;
        }
        let mut ifinfomsg = [0u8; 16];
        ifinfomsg[4..8].copy_from_slice(&self.0.unwrap_or(0).to_ne_bytes());
        let mut m = MessageBuilder::new(buf, RTM_GETLINK, flags, seq);
        m.header(&ifinfomsg);
        m.finish();
    }

    fn is_dump(&self) -> bool {
        self.0.is_none()
    }
}

fn route() -> Connection {
    Connection::open(libc::NETLINK_ROUTE as isize).expect("rtnetlink socket")
}

#[test]
fn a_pipelined_batch_files_each_error_under_its_own_request() {
    let mut c = route();
    // Index 1 is always loopback; a huge index never exists.
    let requests = [
        GetLink(Some(1)),
        GetLink(Some(0x7fff_fff0)),
        GetLink(Some(1)),
    ];
    let results = c.execute(&requests, &|i| format!("request {i}"));
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENODEV), "{err}");
    assert!(err.to_string().starts_with("request 1: "), "{err}");
    assert!(results[2].is_ok(), "{:?}", results[2]);
}

#[test]
fn batches_larger_than_one_sendmsg_keep_their_order() {
    let mut c = route();
    let requests: Vec<GetLink> = (0..2500)
        .map(|i| GetLink(Some(if i % 1000 == 999 { 0x7fff_fff0 } else { 1 })))
        .collect();
    let results = c.execute(&requests, &|i| format!("request {i}"));
    let failed: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].is_err())
        .collect();
    assert_eq!(failed, [999, 1999]);
}

#[test]
fn a_dump_returns_every_message_until_done() {
    let mut c = route();
    let replies = c.query(&GetLink(None), "dump links").unwrap();
    assert!(!replies.is_empty());
    assert!(replies.iter().all(|r| r.kind == RTM_NEWLINK));
    let lo = c.query(&GetLink(Some(1)), "get lo").unwrap();
    assert_eq!(lo.len(), 1);
}

#[test]
fn non_blocking_socket_with_a_group_works_in_an_event_loop() {
    let sock = Socket::open(libc::NETLINK_ROUTE as isize).unwrap();
    sock.set_nonblocking(true).unwrap();
    sock.join_group(RTNLGRP_LINK).unwrap();
    let mut buf = Vec::new();
    let e = sock.recv(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    // Readiness through the descriptor: nothing is pending, then a reply is.
    let mut poll = mio::Poll::new().unwrap();
    let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);
    poll.registry()
        .register(
            &mut mio::unix::SourceFd(&raw),
            mio::Token(7),
            mio::Interest::READABLE,
        )
        .unwrap();
    let mut events = mio::Events::with_capacity(4);
    poll.poll(&mut events, Some(Duration::from_millis(20)))
        .unwrap();
    assert!(events.is_empty());
    let mut req = Vec::new();
    GetLink(Some(1)).encode(&mut req, 1, 0);
    sock.send(&req).unwrap();
    poll.poll(&mut events, Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        events.iter().map(|e| e.token()).collect::<Vec<_>>(),
        [mio::Token(7)]
    );
    sock.recv(&mut buf).unwrap();
    let msg = wire::messages(&buf).next().unwrap().unwrap();
    assert_eq!(msg.header.kind, RTM_NEWLINK);
    sock.leave_group(RTNLGRP_LINK).unwrap();
}
