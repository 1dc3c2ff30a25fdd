//! The IPVS family over the `netlink` crate's generic netlink connection: requests
//! addressed to the family id resolved at open, errors turned into [`crate::Error`].

use crate::error::{Error, Result};
use crate::packet::{self, Request};

/// A request with the family id it goes to.
struct Addressed<'a> {
    family: u16,
    request: &'a Request,
}

impl netlink::Request for Addressed<'_> {
    fn encode(&self, buf: &mut Vec<u8>, seq: u32, flags: u16) {
        self.request.encode(buf, self.family, seq, flags);
    }

    fn is_dump(&self) -> bool {
        self.request.is_dump()
    }
}

/// One message of a reply: its IPVS command and attributes.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub cmd: u8,
    pub body: Vec<u8>,
}

pub(crate) struct Netlink {
    conn: netlink::Connection,
    family: u16,
}

impl Netlink {
    /// Opens a socket and resolves the "IPVS" family (the first lookup may autoload
    /// the module).
    pub fn open() -> Result<Netlink> {
        let (conn, family) = netlink::genl::open(packet::FAMILY_NAME)?;
        Ok(Netlink { conn, family })
    }

    /// Runs change requests, pipelined; one result per request, in order.
    pub fn execute(
        &mut self,
        requests: &[Request],
        describe: &dyn Fn(usize) -> String,
    ) -> Vec<Result<()>> {
        let family = self.family;
        let addressed: Vec<Addressed> = requests
            .iter()
            .map(|request| Addressed { family, request })
            .collect();
        self.conn
            .execute(&addressed, describe)
            .into_iter()
            .map(|r| r.map_err(Error::from))
            .collect()
    }

    /// Sends a query (get or dump) and returns the reply messages.
    pub fn query(&mut self, request: &Request, context: &str) -> Result<Vec<Reply>> {
        let family = self.family;
        let replies = self.conn.query(&Addressed { family, request }, context)?;
        replies
            .iter()
            .map(|r| {
                let (cmd, body) = r.genl().map_err(|e| Error::decode(context, e))?;
                Ok(Reply {
                    cmd,
                    body: body.to_vec(),
                })
            })
            .collect()
    }
}
