use thiserror::Error;

/// Every way a request can be refused, with the HTTP status it maps to.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Request body not received within {0:?}")]
    RequestTimeout(std::time::Duration),
    #[error("Request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    #[error("Server busy: call queue is full ({capacity} calls waiting), retry later")]
    QueueFull { capacity: usize },
    /// No credentials, or credentials that name no valid token (SPEC §12).
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token that may not do this (another user's resource, a missing scope).
    #[error("{0}")]
    Forbidden(String),
    /// A per-user limit of calls is reached; retrying after `retry_after` seconds may work.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// A per-user size limit (stored bytes, MPI world) would be passed.
    #[error("{0}")]
    OverLimit(String),
    #[error("Not implemented yet: {0}")]
    NotImplemented(String),
    /// This host cannot serve it now (e.g. the Python interpreter is not installed).
    #[error("{0}")]
    Unavailable(String),
    #[error("Internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }

    pub fn function_not_found(user: &str, function: &str) -> Self {
        Self::NotFound(format!("Function {user}/{function} not found"))
    }

    /// The HTTP status code of this error.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::RequestTimeout(_) => 408,
            Self::Conflict(_) => 409,
            Self::PayloadTooLarge { .. } | Self::OverLimit(_) => 413,
            Self::TooManyRequests { .. } => 429,
            Self::QueueFull { .. } | Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
            Self::NotImplemented(_) => 501,
        }
    }
}
