//! Generic netlink: resolving a family's id by name through the controller, and a
//! connection to one family.

use crate::connection::{Connection, Reply, Request};
use crate::error::{Error, Result};
use crate::wire::{self, MessageBuilder};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// The controller's "which id has family NAME" request.
struct GetFamily<'a>(&'a str);

impl Request for GetFamily<'_> {
    fn encode(&self, buf: &mut Vec<u8>, seq: u32, flags: u16) {
        let flags = flags | wire::NLM_F_REQUEST;
        let mut m = MessageBuilder::genl(buf, GENL_ID_CTRL, flags, seq, CTRL_CMD_GETFAMILY, 1);
        m.string(CTRL_ATTR_FAMILY_NAME, self.0);
        m.finish();
    }
}

/// Asks the controller for the id of family `name`.
pub(crate) fn resolve_family(conn: &mut Connection, name: &str) -> Result<u16> {
    let context = format!("resolve generic netlink family {name}");
    let replies = match conn.query(&GetFamily(name), &context) {
        Err(e) if e.errno() == Some(libc::ENOENT) => {
            return Err(Error::FamilyNotFound(name.to_string()))
        }
        other => other?,
    };
    family_id(&replies).ok_or_else(|| Error::FamilyNotFound(name.to_string()))
}

fn family_id(replies: &[Reply]) -> Option<u16> {
    replies
        .iter()
        .filter(|r| r.kind == GENL_ID_CTRL)
        .filter_map(|r| r.genl().ok())
        .flat_map(|(_, body)| wire::attrs(body).flatten())
        .find(|a| a.kind == CTRL_ATTR_FAMILY_ID)
        .and_then(|a| a.u16().ok())
}

/// Opens a generic netlink connection and resolves `name`. The first lookup may load the
/// family's module (`net-pf-16-proto-16-family-NAME`), so a miss is retried a few times.
pub fn open(name: &str) -> Result<(Connection, u16)> {
    let mut conn = Connection::open(libc::NETLINK_GENERIC as isize)?;
    let mut last = Error::FamilyNotFound(name.to_string());
    for attempt in 0..3 {
        match resolve_family(&mut conn, name) {
            Ok(id) => return Ok((conn, id)),
            Err(e @ Error::FamilyNotFound(_)) => {
                log::debug!(
                    "{e} (attempt {}); the module may still be loading",
                    attempt + 1
                );
                last = e
            }
            Err(e) => return Err(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(50 << attempt));
    }
    Err(last)
}
