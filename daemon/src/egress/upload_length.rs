//! A streamed request body whose length the runtime vouched for (a `FixedLengthStream`'s
//! readable, or bytes known whole but too large to ride in the `fetch` call): the gateway sends
//! that length as the request's `Content-Length`, as Workers does, instead of chunked framing,
//! and holds the upload to it with [`exactly`].
//!
//! Guarantees: the stream hands on exactly `length` bytes and then ends, or fails: a body that
//! ends short fails at its end, one that runs past fails before a byte past the length is handed
//! on; the last bytes are handed on only once the body has ended (an HTTP client stops reading a
//! body once it has its length, so a longer one would otherwise go unnoticed and be sent cut).
//! A failure makes the HTTP client abort the request (its connection closed), so an upstream
//! never takes a wrong body for a whole one. Trusts nothing: tenant code writes the length and
//! the chunks.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};

use super::stream::{UploadItem, UploadStream};

struct Held {
    body: Pin<Box<dyn Stream<Item = UploadItem> + Send>>,
    length: u64,
    /// Bytes still to come.
    left: u64,
    /// The body ended or failed: nothing more is read from it.
    over: bool,
}

fn long(length: u64) -> std::io::Error {
    std::io::Error::other(format!(
        "the request body is longer than its length ({length} bytes)"
    ))
}

/// `body` held to `length` bytes.
pub fn exactly(body: impl Stream<Item = UploadItem> + Send + 'static, length: u64) -> UploadStream {
    let held = Held {
        body: Box::pin(body),
        length,
        left: length,
        over: false,
    };
    Box::pin(futures_util::stream::unfold(held, |mut held| async move {
        if held.over {
            return None;
        }
        let next = next(&mut held).await;
        if !matches!(next, Some(Ok(_))) {
            held.over = true;
        }
        next.map(|item| (item, held))
    }))
}

async fn next(held: &mut Held) -> Option<UploadItem> {
    loop {
        let chunk = match held.body.next().await {
            None if held.left == 0 => return None,
            None => {
                return Some(Err(std::io::Error::other(format!(
                    "the request body ended {} bytes short of its length ({} bytes)",
                    held.left, held.length
                ))))
            }
            Some(Err(e)) => return Some(Err(e)),
            Some(Ok(chunk)) if chunk.is_empty() => continue,
            Some(Ok(chunk)) => chunk,
        };
        let n = chunk.len() as u64;
        if n > held.left {
            return Some(Err(long(held.length)));
        }
        held.left -= n;
        if held.left > 0 {
            return Some(Ok(chunk));
        }
        // The last bytes: handed on once the body has ended with them.
        loop {
            match held.body.next().await {
                None => {
                    held.over = true;
                    return Some(Ok(chunk));
                }
                Some(Ok(more)) if more.is_empty() => {}
                Some(Ok(_)) => return Some(Err(long(held.length))),
                Some(Err(e)) => return Some(Err(e)),
            }
        }
    }
}

#[cfg(test)]
#[path = "upload_length_tests.rs"]
mod tests;
