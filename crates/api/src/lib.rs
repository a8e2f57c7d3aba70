//! Wire types of faasm-rs: the invoke message, call results and their text/JSON forms, name
//! validation, and the error enum that maps to HTTP status codes. No I/O happens here, so every
//! rule of the contract that is about shapes and names can be unit-tested in isolation.

mod error;
mod limits;
mod message;
mod names;
mod planner;
mod result;

pub use error::ApiError;
pub use limits::UserLimits;
pub use message::{CallRequest, InvokeMessage, Request};
pub use names::{FilePath, StateKey, validate_name};
pub use planner::{BatchMessage, BatchRequest, PlannerCommand};
pub use result::{CallResult, CallStatus, Timings};

/// A call id: unique, positive, never reused on one deployment.
pub type CallId = u64;
