//! The body of a request to the upstream: none, or the client's upload
//! arriving through a bounded channel.

use std::task::{Context, Poll};

use actix_web::web::Bytes;
use tokio::sync::mpsc;

pub enum OutgoingBody {
    Empty,
    /// Chunks as the client sends them; the sender's end closing ends it.
    Stream(mpsc::Receiver<Result<Bytes, std::io::Error>>),
}

impl OutgoingBody {
    /// The next chunk; `None` at the end.
    pub fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, std::io::Error>>> {
        match self {
            Self::Empty => Poll::Ready(None),
            Self::Stream(chunks) => chunks.poll_recv(cx),
        }
    }
}
