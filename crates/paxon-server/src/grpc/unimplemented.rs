//! What services share for methods Paxon does not implement yet: each
//! answers gRPC `UNIMPLEMENTED` with a message naming the method, never a
//! silent empty success.

use std::pin::Pin;

use tokio_stream::Stream;
use tonic::Status;

/// A stream that never yields (the methods return before using it).
pub type NoStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;
