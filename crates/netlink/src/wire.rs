//! The netlink wire format, for any family: message headers, attributes (TLV, nested),
//! generic netlink's command header and error messages. Pure encode/decode, no sockets,
//! in the manner of smoltcp's `wire` types.
//!
//! All integers are in host byte order except where a family says otherwise (IPVS ports
//! and rtnetlink addresses are in network order: see [`MessageBuilder::be16`]).

use std::fmt;

pub(crate) const NLMSG_HDRLEN: usize = 16;
pub(crate) const GENL_HDRLEN: usize = 4;
pub(crate) const NLA_HDRLEN: usize = 4;

pub const NLM_F_REQUEST: u16 = 0x1;
pub const NLM_F_MULTI: u16 = 0x2;
pub(crate) const NLM_F_ACK: u16 = 0x4;
pub const NLM_F_DUMP: u16 = 0x300;
/// In an NLMSG_ERROR message: the request was capped (NETLINK_CAP_ACK).
pub(crate) const NLM_F_CAPPED: u16 = 0x100;
/// In an NLMSG_ERROR message: extended-ack attributes follow.
pub(crate) const NLM_F_ACK_TLVS: u16 = 0x200;

pub(crate) const NLMSG_NOOP: u16 = 1;
pub(crate) const NLMSG_ERROR: u16 = 2;
pub(crate) const NLMSG_DONE: u16 = 3;
pub(crate) const NLMSG_OVERRUN: u16 = 4;

pub(crate) const NLA_F_NESTED: u16 = 0x8000;
pub(crate) const NLA_F_NET_BYTEORDER: u16 = 0x4000;
const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Extended ack attribute: a human-readable message.
pub(crate) const NLMSGERR_ATTR_MSG: u16 = 1;

pub const fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub String);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed netlink data: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

fn short(what: &str) -> DecodeError {
    DecodeError(format!("{what} is truncated"))
}

/// Netlink message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlHeader {
    pub len: u32,
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub pid: u32,
}

impl NlHeader {
    pub fn decode(b: &[u8]) -> Result<NlHeader, DecodeError> {
        if b.len() < NLMSG_HDRLEN {
            return Err(short("netlink header"));
        }
        Ok(NlHeader {
            len: u32::from_ne_bytes(b[0..4].try_into().unwrap()),
            kind: u16::from_ne_bytes(b[4..6].try_into().unwrap()),
            flags: u16::from_ne_bytes(b[6..8].try_into().unwrap()),
            seq: u32::from_ne_bytes(b[8..12].try_into().unwrap()),
            pid: u32::from_ne_bytes(b[12..16].try_into().unwrap()),
        })
    }
}

/// Sets `flags` in the header of the message that starts `msg` (e.g. NLM_F_ACK on the
/// last message of a batch).
pub(crate) fn add_flags(msg: &mut [u8], flags: u16) {
    let old = u16::from_ne_bytes([msg[6], msg[7]]);
    msg[6..8].copy_from_slice(&(old | flags).to_ne_bytes());
}

/// Builds one netlink message into a buffer that may already hold others (pipelining:
/// many messages go out in one `sendmsg`).
pub struct MessageBuilder<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    nests: Vec<usize>,
}

impl<'a> MessageBuilder<'a> {
    /// Starts a netlink message of type `kind` (a family's message type, or a generic
    /// netlink family id). The family's own fixed header, if any, follows with
    /// [`MessageBuilder::header`] before the first attribute.
    pub fn new(buf: &'a mut Vec<u8>, kind: u16, flags: u16, seq: u32) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&0u32.to_ne_bytes()); // length, patched in finish()
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel fills it in
        MessageBuilder {
            buf,
            start,
            nests: Vec::new(),
        }
    }

    /// Starts a generic netlink message: netlink header, then `cmd` and `version`.
    pub fn genl(
        buf: &'a mut Vec<u8>,
        family: u16,
        flags: u16,
        seq: u32,
        cmd: u8,
        version: u8,
    ) -> Self {
        let mut m = MessageBuilder::new(buf, family, flags, seq);
        m.header(&[cmd, version, 0, 0]);
        m
    }

    /// Appends a family's fixed header (rtnetlink's `ifinfomsg`, `ifaddrmsg`, ...),
    /// padded to 4 bytes.
    pub fn header(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    pub fn attr(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let len = NLA_HDRLEN + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.pad();
        self
    }

    pub fn u8(&mut self, kind: u16, v: u8) -> &mut Self {
        self.attr(kind, &[v])
    }

    pub fn u16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// A 16-bit value in network byte order (ports).
    pub fn be16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.attr(kind, &v.to_be_bytes())
    }

    pub fn u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// A NUL-terminated string.
    pub fn string(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.attr(kind, &v)
    }

    pub fn begin_nest(&mut self, kind: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub fn end_nest(&mut self) -> &mut Self {
        let at = self.nests.pop().expect("end_nest without begin_nest");
        let len = (self.buf.len() - at) as u16;
        self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn pad(&mut self) {
        let padded = align4(self.buf.len() - self.start) + self.start;
        self.buf.resize(padded, 0);
    }

    /// Patches the message length; returns the message's byte range.
    pub fn finish(self) -> std::ops::Range<usize> {
        assert!(self.nests.is_empty(), "unclosed attribute nest");
        let len = (self.buf.len() - self.start) as u32;
        self.buf[self.start..self.start + 4].copy_from_slice(&len.to_ne_bytes());
        self.start..self.buf.len()
    }
}

/// One netlink message within a received buffer.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub header: NlHeader,
    /// Everything after the netlink header.
    pub payload: &'a [u8],
}

/// Iterates the messages of one received datagram.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = Result<Message<'_>, DecodeError>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let header = match NlHeader::decode(rest) {
            Ok(h) => h,
            Err(e) => {
                rest = &[];
                return Some(Err(e));
            }
        };
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            rest = &[];
            return Some(Err(DecodeError(format!(
                "message length {len} out of bounds"
            ))));
        }
        let msg = Message {
            header,
            payload: &rest[NLMSG_HDRLEN..len],
        };
        rest = &rest[align4(len).min(rest.len())..];
        Some(Ok(msg))
    })
}

/// The generic netlink header of a message payload, and its attributes.
pub fn genl_split(payload: &[u8]) -> Result<(u8, u8, &[u8]), DecodeError> {
    if payload.len() < GENL_HDRLEN {
        return Err(short("generic netlink header"));
    }
    Ok((payload[0], payload[1], &payload[GENL_HDRLEN..]))
}

/// One attribute. `kind` has the nested/byte-order flags masked off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    pub kind: u16,
    pub payload: &'a [u8],
}

impl<'a> Attr<'a> {
    pub fn u8(&self) -> Result<u8, DecodeError> {
        self.payload
            .first()
            .copied()
            .ok_or_else(|| short("u8 attribute"))
    }

    pub fn u16(&self) -> Result<u16, DecodeError> {
        Ok(u16::from_ne_bytes(self.fixed::<2>()?))
    }

    pub fn be16(&self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.fixed::<2>()?))
    }

    pub fn u32(&self) -> Result<u32, DecodeError> {
        Ok(u32::from_ne_bytes(self.fixed::<4>()?))
    }

    pub fn u64(&self) -> Result<u64, DecodeError> {
        Ok(u64::from_ne_bytes(self.fixed::<8>()?))
    }

    /// A string, up to the first NUL.
    pub fn string(&self) -> Result<String, DecodeError> {
        let end = self
            .payload
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.payload.len());
        String::from_utf8(self.payload[..end].to_vec())
            .map_err(|_| DecodeError(format!("attribute {} is not UTF-8", self.kind)))
    }

    pub fn fixed<const N: usize>(&self) -> Result<[u8; N], DecodeError> {
        self.payload
            .get(..N)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| {
                DecodeError(format!("attribute {} is shorter than {N} bytes", self.kind))
            })
    }

    /// The attributes nested in this one.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs { rest: self.payload }
    }
}

/// Iterator over a run of attributes.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

pub fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { rest: buf }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < NLA_HDRLEN {
            return None;
        }
        let len = u16::from_ne_bytes([self.rest[0], self.rest[1]]) as usize;
        let kind = u16::from_ne_bytes([self.rest[2], self.rest[3]]) & NLA_TYPE_MASK;
        if len < NLA_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return Some(Err(DecodeError(format!(
                "attribute {kind} length {len} out of bounds"
            ))));
        }
        let attr = Attr {
            kind,
            payload: &self.rest[NLA_HDRLEN..len],
        };
        self.rest = &self.rest[align4(len).min(self.rest.len())..];
        Some(Ok(attr))
    }
}

/// An NLMSG_ERROR message: `errno` 0 is an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ErrorMessage {
    /// Positive errno (the kernel sends it negated), 0 for an ACK.
    pub errno: i32,
    /// The header of the request it answers.
    pub request: NlHeader,
    /// The kernel's extended-ack text, if any.
    pub text: Option<String>,
}

impl ErrorMessage {
    pub fn decode(msg: &Message) -> Result<ErrorMessage, DecodeError> {
        let p = msg.payload;
        if p.len() < 4 + NLMSG_HDRLEN {
            return Err(short("netlink error message"));
        }
        let errno = -i32::from_ne_bytes(p[0..4].try_into().unwrap());
        let request = NlHeader::decode(&p[4..])?;
        let mut text = None;
        if msg.header.flags & NLM_F_ACK_TLVS != 0 {
            // With NETLINK_CAP_ACK only the request's header is echoed; otherwise the
            // whole request precedes the TLVs.
            let echoed = if msg.header.flags & NLM_F_CAPPED != 0 {
                NLMSG_HDRLEN
            } else {
                align4(request.len as usize)
            };
            if let Some(tlvs) = p.get(4 + echoed..) {
                for a in attrs(tlvs).flatten() {
                    if a.kind == NLMSGERR_ATTR_MSG {
                        text = a.string().ok().filter(|s| !s.is_empty());
                    }
                }
            }
        }
        Ok(ErrorMessage {
            errno,
            request,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_parser_round_trip() {
        let mut buf = Vec::new();
        let mut m = MessageBuilder::genl(&mut buf, 0x1234, NLM_F_REQUEST | NLM_F_ACK, 7, 5, 1);
        m.u16(1, 2)
            .be16(4, 80)
            .u32(5, 0xdead_beef)
            .string(6, "wlc")
            .u8(9, 3);
        m.begin_nest(2)
            .u32(3, 42)
            .begin_nest(4)
            .attr(1, &[1, 2, 3])
            .end_nest()
            .end_nest();
        let range = m.finish();
        assert_eq!(range, 0..buf.len());
        assert_eq!(buf.len() % 4, 0);

        let msgs: Vec<_> = messages(&buf).collect::<Result<_, _>>().unwrap();
        assert_eq!(msgs.len(), 1);
        let h = msgs[0].header;
        assert_eq!(
            (h.len as usize, h.kind, h.flags, h.seq),
            (buf.len(), 0x1234, 5, 7)
        );
        let (cmd, version, body) = genl_split(msgs[0].payload).unwrap();
        assert_eq!((cmd, version), (5, 1));
        let a: Vec<Attr> = attrs(body).collect::<Result<_, _>>().unwrap();
        assert_eq!(a.len(), 6);
        assert_eq!(a[0].u16().unwrap(), 2);
        assert_eq!(a[1].be16().unwrap(), 80);
        assert_eq!(a[1].payload, &[0, 80]);
        assert_eq!(a[2].u32().unwrap(), 0xdead_beef);
        assert_eq!(a[3].string().unwrap(), "wlc");
        assert_eq!(a[4].u8().unwrap(), 3);
        assert_eq!(a[5].kind, 2, "nested flag masked off");
        let inner: Vec<Attr> = a[5].nested().collect::<Result<_, _>>().unwrap();
        assert_eq!(inner[0].u32().unwrap(), 42);
        let deep: Vec<Attr> = inner[1].nested().collect::<Result<_, _>>().unwrap();
        assert_eq!(deep[0].payload, &[1, 2, 3]);
    }

    #[test]
    fn a_message_of_another_family_with_its_own_header() {
        // rtnetlink RTM_GETLINK (18) with a 16-byte ifinfomsg and IFLA_IFNAME (3).
        let mut buf = Vec::new();
        let mut m = MessageBuilder::new(&mut buf, 18, NLM_F_REQUEST, 3);
        m.header(&[0u8; 16]).string(3, "lo");
        m.finish();
        let msg = messages(&buf).next().unwrap().unwrap();
        assert_eq!((msg.header.kind, msg.header.seq), (18, 3));
        assert_eq!(msg.payload.len(), 16 + 8);
        let a: Vec<Attr> = attrs(&msg.payload[16..]).collect::<Result<_, _>>().unwrap();
        assert_eq!((a[0].kind, a[0].string().unwrap().as_str()), (3, "lo"));
    }

    #[test]
    fn flags_can_be_added_to_a_built_message() {
        let mut buf = Vec::new();
        MessageBuilder::genl(&mut buf, 20, NLM_F_REQUEST, 1, 1, 1).finish();
        let second = buf.len();
        MessageBuilder::genl(&mut buf, 20, NLM_F_REQUEST, 2, 1, 1).finish();
        add_flags(&mut buf[second..], NLM_F_ACK);
        let flags: Vec<u16> = messages(&buf).map(|m| m.unwrap().header.flags).collect();
        assert_eq!(flags, [NLM_F_REQUEST, NLM_F_REQUEST | NLM_F_ACK]);
    }

    #[test]
    fn several_messages_in_one_buffer() {
        let mut buf = Vec::new();
        for seq in 1..=3 {
            let mut m = MessageBuilder::genl(&mut buf, 20, NLM_F_REQUEST, seq, 1, 1);
            m.string(1, &"x".repeat(seq as usize));
            m.finish();
        }
        let seqs: Vec<u32> = messages(&buf).map(|m| m.unwrap().header.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn error_message_with_extended_ack_text() {
        // What the kernel sends for a capped NLMSG_ERROR with an ext-ack message.
        let mut buf = Vec::new();
        let mut payload = Vec::new();
        payload.extend_from_slice(&(-17i32).to_ne_bytes());
        let req = NlHeader {
            len: 60,
            kind: 30,
            flags: 5,
            seq: 9,
            pid: 0,
        };
        for v in [
            req.len.to_ne_bytes().to_vec(),
            req.kind.to_ne_bytes().to_vec(),
            req.flags.to_ne_bytes().to_vec(),
            req.seq.to_ne_bytes().to_vec(),
            req.pid.to_ne_bytes().to_vec(),
        ] {
            payload.extend_from_slice(&v);
        }
        let text = b"Service already exists\0";
        payload.extend_from_slice(&((NLA_HDRLEN + text.len()) as u16).to_ne_bytes());
        payload.extend_from_slice(&NLMSGERR_ATTR_MSG.to_ne_bytes());
        payload.extend_from_slice(text);
        payload.resize(align4(payload.len()), 0);
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        buf.extend_from_slice(&len.to_ne_bytes());
        buf.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
        buf.extend_from_slice(&(NLM_F_CAPPED | NLM_F_ACK_TLVS).to_ne_bytes());
        buf.extend_from_slice(&9u32.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&payload);
        let msg = messages(&buf).next().unwrap().unwrap();
        let e = ErrorMessage::decode(&msg).unwrap();
        assert_eq!(e.errno, 17);
        assert_eq!(e.request.seq, 9);
        assert_eq!(e.text.as_deref(), Some("Service already exists"));
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let mut buf = Vec::new();
        let mut m = MessageBuilder::genl(&mut buf, 20, 0, 1, 1, 1);
        m.u32(1, 5);
        m.finish();
        for cut in 0..buf.len() {
            for msg in messages(&buf[..cut]).flatten() {
                if let Ok((_, _, body)) = genl_split(msg.payload) {
                    for a in attrs(body).flatten() {
                        let _ = a.u32();
                    }
                }
            }
        }
        // A lying length is reported.
        let mut bad = buf.clone();
        bad[0] = 200;
        assert!(messages(&bad).next().unwrap().is_err());
    }
}
