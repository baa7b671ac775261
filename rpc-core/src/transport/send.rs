//! The sending half of a call.

use super::{code, write_status};
use crate::status::Status;
use crate::wire::ErrorCode;
use bytes::Bytes;

/// A quinn send stream that is reset (never silently finished) when dropped unfinished, so an
/// abandoned call is never mistaken for a complete one.
pub(crate) struct SendHalf {
    stream: quinn::SendStream,
    closed: bool,
    peer: &'static str,
}

impl SendHalf {
    pub(crate) fn new(stream: quinn::SendStream, peer: &'static str) -> Self {
        SendHalf {
            stream,
            closed: false,
            peer,
        }
    }

    /// Writes `data` completely.
    ///
    /// # Cancel safety
    /// Not cancel safe: part of `data` may have been written.
    pub(crate) async fn write(&mut self, data: Bytes) -> Result<(), Status> {
        self.stream
            .write_chunk(data)
            .await
            .map_err(|e| write_status(&e, self.peer))
    }

    /// Writes as much of `data` as the stream takes now, without waiting: `Some` when done
    /// (all written, or failed), `None` when the stream is blocked, with the rest left in
    /// `data`. Keeps the common case free of a write future held across an `await`.
    pub(crate) fn try_write(&mut self, data: &mut Bytes) -> Option<Result<(), Status>> {
        use futures_util::FutureExt;
        loop {
            // `write_chunks` leaves what it did not take in the array, so giving up on a
            // pending poll loses nothing.
            let mut bufs = [std::mem::take(data)];
            let res = self.stream.write_chunks(&mut bufs).now_or_never();
            *data = std::mem::take(&mut bufs[0]);
            match res {
                None => return None,
                Some(Err(e)) => return Some(Err(write_status(&e, self.peer))),
                Some(Ok(_)) if data.is_empty() => return Some(Ok(())),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Ends the stream gracefully after everything written.
    pub(crate) fn finish(&mut self) {
        if !self.closed {
            let _ = self.stream.finish();
            self.closed = true;
        }
    }

    /// Abandons the stream with `c`, unless it was already finished or reset.
    pub(crate) fn reset(&mut self, c: ErrorCode) {
        if !self.closed {
            let _ = self.stream.reset(code(c));
            self.closed = true;
        }
    }

    /// Resolves when the peer sends `STOP_SENDING` (or the connection is lost).
    pub(crate) fn stopped(
        &self,
    ) -> impl std::future::Future<Output = Result<Option<quinn::VarInt>, quinn::StoppedError>>
           + Send
           + Sync
           + 'static {
        self.stream.stopped()
    }
}

impl Drop for SendHalf {
    fn drop(&mut self) {
        self.reset(ErrorCode::CANCELLED);
    }
}
