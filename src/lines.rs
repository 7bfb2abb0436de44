//! The line protocols' one reader: a line at most `max` bytes long, the rest of a longer
//! one read and dropped (so the next line is read whole), an interrupted read retried.
//! `__request`, daemon.sock and `taskmux mcp` all read their input with it.

use std::io::BufRead;

/// One line read by [`read_line`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The input ended.
    End,
    /// A line, in the buffer (with its newline, when it had one).
    Line,
    /// A line longer than the limit: the buffer is empty, the line was dropped.
    TooLong,
}

/// Reads one line into `buf` (cleared first), keeping at most `max` bytes of it.
pub fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Read> {
    buf.clear();
    let mut total = 0usize;
    let mut too_long = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(match (total, too_long) {
                (0, _) => Read::End,
                (_, true) => Read::TooLong,
                _ => Read::Line,
            });
        }
        let (take, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max + 1 {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        input.consume(take);
        total += take;
        if done {
            return Ok(if too_long { Read::TooLong } else { Read::Line });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_dropped_whole_and_the_next_is_read() {
        let max = 100;
        let mut data = vec![b'x'; max + 10];
        data.push(b'\n');
        data.extend_from_slice(b"{\"command\": \"ping\"}\n");
        data.extend_from_slice(b"last, no newline");
        let mut r = std::io::BufReader::with_capacity(16, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, max).expect("reads"), Read::TooLong);
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut r, &mut buf, max).expect("reads"), Read::Line);
        assert_eq!(buf, b"{\"command\": \"ping\"}\n");
        assert_eq!(read_line(&mut r, &mut buf, max).expect("reads"), Read::Line);
        assert_eq!(buf, b"last, no newline");
        assert_eq!(read_line(&mut r, &mut buf, max).expect("reads"), Read::End);
    }
}
