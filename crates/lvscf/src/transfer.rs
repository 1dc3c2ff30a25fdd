//! A whole lvs.cf in transit (configuration sync, docs/operations.md). The sender puts one
//! header line before the file, saying how long it is and what its SHA-256 is:
//!
//! ```text
//! piranha-rs lvs.cf transfer 1 length=1234 sha256=<64 hex digits>
//! <the file, exactly 1234 bytes>
//! ```
//!
//! and the receiver installs what follows only when both match. A stream cut by a dropped
//! connection, a killed ssh or a full disk on the way is refused before anything is
//! installed, and the sender retries. In the stream rather than on the receiver's command
//! line, so that an ssh key restricted to a forced `command=` (docs/operations.md) still
//! carries it.

use sha2::{Digest, Sha256};
use std::fmt;

/// What the header line starts with (version 1).
pub(crate) const HEADER: &str = "piranha-rs lvs.cf transfer 1 ";
/// The longest header line read.
const MAX_HEADER: usize = 200;

/// Why a stream is not a whole framed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    /// No header at all: not sent by a framing sender (an older pulse, a plain file).
    Unframed,
    /// The header itself is cut or garbled.
    BadHeader,
    /// Fewer (or more) bytes than announced.
    Length { arrived: u64, announced: u64 },
    /// The right length, other bytes.
    Digest,
}

impl TransferError {
    /// Whether sending again may help (the stream was damaged on the way), rather than
    /// the sender being one that never frames.
    pub fn retry_may_help(&self) -> bool {
        *self != TransferError::Unframed
    }
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Unframed => write!(
                f,
                "no transfer header: the sender cannot show the file is whole (an older pulse?)"
            ),
            TransferError::BadHeader => write!(f, "the transfer header is cut or garbled"),
            TransferError::Length { arrived, announced } if arrived < announced => write!(
                f,
                "the transfer was cut: {arrived} of {announced} bytes arrived"
            ),
            TransferError::Length { arrived, announced } => write!(
                f,
                "more arrived than was sent: {arrived} bytes, {announced} announced"
            ),
            TransferError::Digest => write!(f, "the file arrived damaged (its SHA-256 differs)"),
        }
    }
}

/// The stream to send for `file`: the header line, then the file.
pub fn frame(file: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "{HEADER}length={} sha256={}\n",
        file.len(),
        sha256_hex(file)
    )
    .into_bytes();
    out.extend_from_slice(file);
    out
}

/// The file inside a received stream, if the stream is whole.
pub fn unframe(stream: &[u8]) -> Result<&[u8], TransferError> {
    if !stream.starts_with(HEADER.as_bytes()) {
        // Nothing, or the header's first bytes only: cut, not unframed.
        if HEADER.as_bytes().starts_with(stream) {
            return Err(TransferError::BadHeader);
        }
        return Err(TransferError::Unframed);
    }
    let end = stream
        .iter()
        .take(MAX_HEADER)
        .position(|b| *b == b'\n')
        .ok_or(TransferError::BadHeader)?;
    let line =
        std::str::from_utf8(&stream[HEADER.len()..end]).map_err(|_| TransferError::BadHeader)?;
    let (length, sha256) = fields(line).ok_or(TransferError::BadHeader)?;
    let file = &stream[end + 1..];
    if file.len() as u64 != length {
        return Err(TransferError::Length {
            arrived: file.len() as u64,
            announced: length,
        });
    }
    if sha256_hex(file) != sha256 {
        return Err(TransferError::Digest);
    }
    Ok(file)
}

/// `length=N sha256=HEX`.
fn fields(line: &str) -> Option<(u64, String)> {
    let mut words = line.split(' ');
    let length = words.next()?.strip_prefix("length=")?.parse().ok()?;
    let sha256 = words.next()?.strip_prefix("sha256=")?;
    let ok = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit());
    (ok && words.next().is_none()).then(|| (length, sha256.to_ascii_lowercase()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_stream_passes_and_a_cut_or_damaged_one_does_not() {
        let file = b"serial_no = 7\nprimary = 192.0.2.1\n";
        let stream = frame(file);
        // The SHA-256 as sha256sum prints it.
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(stream.starts_with(b"piranha-rs lvs.cf transfer 1 length=34 sha256="));
        assert_eq!(unframe(&stream), Ok(&file[..]));
        let header = stream.len() - file.len();
        assert_eq!(
            unframe(&stream[..header + 10]).unwrap_err().to_string(),
            "the transfer was cut: 10 of 34 bytes arrived"
        );
        assert_eq!(unframe(&stream[..20]), Err(TransferError::BadHeader));
        assert_eq!(unframe(&stream[..40]), Err(TransferError::BadHeader));
        assert_eq!(
            unframe(b""),
            Err(TransferError::BadHeader),
            "nothing arrived"
        );
        let mut damaged = stream.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(unframe(&damaged), Err(TransferError::Digest));
        let mut longer = stream.clone();
        longer.push(b'\n');
        assert!(matches!(
            unframe(&longer),
            Err(TransferError::Length { arrived: 35, .. })
        ));
        assert_eq!(unframe(file), Err(TransferError::Unframed));
        assert!(!TransferError::Unframed.retry_may_help());
        assert!(TransferError::Digest.retry_may_help());
    }
}
