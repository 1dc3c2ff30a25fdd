//! Lines from a non-blocking pipe (a child's report channel): what has arrived is split
//! into complete lines, the incomplete rest kept for the next read. Memory is bounded: a
//! line longer than the limit is dropped, not accumulated.

use std::io::Read;

pub struct LineReader {
    partial: Vec<u8>,
    max_line: usize,
    /// Skipping the rest of an over-long line.
    skipping: bool,
}

impl LineReader {
    pub fn new(max_line: usize) -> LineReader {
        LineReader {
            partial: Vec::new(),
            max_line,
            skipping: false,
        }
    }

    /// Reads what is available now from `source` (which must not block) and returns the
    /// complete lines, without their `\n`.
    pub fn read_from(&mut self, mut source: impl Read) -> Vec<Vec<u8>> {
        let mut buf = [0u8; 4096];
        let mut lines = Vec::new();
        loop {
            match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => lines.extend(self.push(&buf[..n])),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        lines
    }

    /// Feeds bytes; returns the lines they complete.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            if !self.skipping {
                self.partial.extend_from_slice(&bytes[..nl]);
                lines.push(std::mem::take(&mut self.partial));
            }
            self.skipping = false;
            bytes = &bytes[nl + 1..];
        }
        if !self.skipping {
            self.partial.extend_from_slice(bytes);
            if self.partial.len() > self.max_line {
                self.partial.clear();
                self.skipping = true;
            }
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut r = LineReader::new(64);
        assert!(r.push(b"123 act").is_empty());
        assert_eq!(
            r.push(b"ive\n45 inactive\n6"),
            [b"123 active".to_vec(), b"45 inactive".to_vec()]
        );
        assert_eq!(r.push(b"7 active\n"), [b"67 active".to_vec()]);
    }

    #[test]
    fn an_endless_line_is_dropped_not_kept() {
        let mut r = LineReader::new(16);
        for _ in 0..1000 {
            assert!(r.push(&[b'x'; 1000]).is_empty());
        }
        assert!(r.partial.len() <= 16);
        assert_eq!(r.push(b"\nok\n"), [b"ok".to_vec()]);
    }

    #[test]
    fn reads_a_pipe_until_it_would_block() {
        let (read, write) = crate::nonblocking_pipe().unwrap();
        let mut w = std::fs::File::from(write);
        std::io::Write::write_all(&mut w, b"a\nb\nc").unwrap();
        let mut r = LineReader::new(64);
        assert_eq!(
            r.read_from(std::fs::File::from(read.try_clone().unwrap())),
            [b"a".to_vec(), b"b".to_vec()]
        );
    }
}
