//! The Prometheus HTTP API envelope: `{"status":"success","data":...}` and
//! `{"status":"error","errorType":...,"error":...}` with upstream's status codes
//! (web/api/v1/api.go `respond`/`respondError`).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Error classes of the Prometheus API, each with its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    /// 400: the request is malformed.
    BadData,
    /// 422: the expression could not be executed.
    Execution,
    /// 503: the query was canceled.
    Canceled,
    /// 503: the query timed out.
    Timeout,
    /// 500.
    Internal,
    /// 404.
    NotFound,
    /// 503: not ready or disabled.
    Unavailable,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Canceled => "canceled",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
            ErrorType::Unavailable => "unavailable",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Canceled | ErrorType::Timeout | ErrorType::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// An API error response.
#[derive(Clone, Debug)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        ApiError::new(ErrorType::BadData, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(ErrorType::Internal, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Written by hand so strings are escaped like Go's encoding/json (`<` as `\u003c`).
        let body = super::json::error_envelope(self.kind.as_str(), &self.message);
        (
            self.kind.status(),
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// A successful API response carrying `data` and optional warnings/infos.
#[derive(Serialize)]
pub struct ApiOk<T: Serialize> {
    status: &'static str,
    pub data: T,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub infos: Vec<String>,
}

impl<T: Serialize> ApiOk<T> {
    pub fn new(data: T) -> Self {
        ApiOk {
            status: "success",
            data,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }
}

impl<T: Serialize> IntoResponse for ApiOk<T> {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

/// Result type of API handlers.
pub type ApiResult<T> = Result<ApiOk<T>, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_shape() {
        let body = super::super::json::error_envelope(
            ErrorType::BadData.as_str(),
            "invalid parameter \"query\"",
        );
        assert_eq!(
            body,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\""}"#
        );
        assert_eq!(ErrorType::Execution.status().as_u16(), 422);
        assert_eq!(ErrorType::Timeout.status().as_u16(), 503);
    }

    #[test]
    fn ok_body_shape() {
        let s = serde_json::to_string(&ApiOk::new(vec!["a"])).unwrap();
        assert_eq!(s, r#"{"status":"success","data":["a"]}"#);
    }
}
