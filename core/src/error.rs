//! Error classes shared by every component, and the conversion of an SDK error into one.

use std::fmt;

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// What kind of failure an AWS call had, so that callers can react without matching codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The resource does not exist (an idempotent delete treats this as done).
    NotFound,
    /// Rate limited after the SDK's own retries.
    Throttled,
    /// The credentials are missing, expired or lack a permission.
    AccessDenied,
    /// The resource exists already, is in use, or is being changed by someone else.
    Conflict,
    /// AWS rejected a value.
    Invalid,
    /// Anything else: transport, timeouts, unexpected responses.
    Sdk,
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorClass::NotFound => "not found",
            ErrorClass::Throttled => "throttled",
            ErrorClass::AccessDenied => "access denied",
            ErrorClass::Conflict => "conflict",
            ErrorClass::Invalid => "invalid request",
            ErrorClass::Sdk => "AWS SDK error",
        })
    }
}

impl ErrorClass {
    /// Classifies by the AWS error code first, the HTTP status second.
    pub fn classify(code: Option<&str>, http_status: Option<u16>) -> ErrorClass {
        if let Some(code) = code {
            let class = match code {
                c if c.contains("NotFound") || c.starts_with("NoSuch") => Some(Self::NotFound),
                c if c.contains("Throttl")
                    || c == "TooManyRequestsException"
                    || c == "RequestLimitExceeded"
                    || c == "SlowDown" =>
                {
                    Some(Self::Throttled)
                }
                c if c.contains("AccessDenied")
                    || c.contains("Unauthorized")
                    || c == "ExpiredToken"
                    || c == "ExpiredTokenException"
                    || c == "UnrecognizedClientException"
                    || c == "InvalidClientTokenId"
                    || c == "AuthFailure"
                    || c == "InvalidSignatureException" =>
                {
                    Some(Self::AccessDenied)
                }
                c if c.contains("AlreadyExists")
                    || c == "ResourceExistsException"
                    || c.contains("InUse")
                    || c.contains("NotEmpty")
                    || c == "DependencyViolation"
                    || c == "OperationAbortedException"
                    || c == "ConflictException" =>
                {
                    Some(Self::Conflict)
                }
                c if c.starts_with("Invalid")
                    || c.starts_with("Validation")
                    || c.contains("Malformed")
                    || c == "MissingParameter" =>
                {
                    Some(Self::Invalid)
                }
                _ => None,
            };
            if let Some(class) = class {
                return class;
            }
        }
        match http_status {
            Some(404) => Self::NotFound,
            Some(401 | 403) => Self::AccessDenied,
            Some(429) => Self::Throttled,
            Some(409) => Self::Conflict,
            _ => Self::Sdk,
        }
    }
}

/// A failed AWS call, classified. The message is the SDK error with its whole chain
/// (rendered with `DisplayErrorContext`), so it is a leaf: nothing sits below it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {class}: {message}")]
pub struct AwsError {
    pub operation: &'static str,
    pub class: ErrorClass,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn new(operation: &'static str, class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            operation,
            class,
            code: None,
            message: message.into(),
        }
    }

    /// An error as AWS answers it: its code, classified as an SDK error would be (for mocks
    /// that must answer what the real API does).
    pub fn with_code(operation: &'static str, code: &str, message: impl Into<String>) -> Self {
        Self {
            operation,
            class: ErrorClass::classify(Some(code), Some(400)),
            code: Some(code.to_owned()),
            message: message.into(),
        }
    }

    /// A request berth could not build, or a response missing what it must hold.
    pub fn invalid(operation: &'static str, problem: impl fmt::Display) -> Self {
        Self::new(operation, ErrorClass::Invalid, problem.to_string())
    }

    /// Converts an SDK error from `operation` (e.g. `"CreateLogGroup"`).
    pub fn from_sdk<E>(operation: &'static str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().map(str::to_owned);
        let status = err.raw_response().map(|r| r.status().as_u16());
        let class = ErrorClass::classify(code.as_deref(), status);
        let message = match err.message() {
            Some(message) => match &code {
                Some(code) => format!("{code}: {message}"),
                None => message.to_owned(),
            },
            None => error_chain(&err),
        };
        Self {
            operation,
            class,
            code,
            message,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.class == ErrorClass::NotFound
    }

    pub fn is_conflict(&self) -> bool {
        self.class == ErrorClass::Conflict
    }

    /// The create's resource exists already, by the codes AWS APIs document for that
    /// (`…AlreadyExists…`, Secrets Manager's `ResourceExistsException`, `Duplicate…`, EC2's
    /// `….Duplicate`) — not other conflicts (in use, an operation under way, not empty).
    pub fn is_already_exists(&self) -> bool {
        self.code.as_deref().is_some_and(|code| {
            code.contains("AlreadyExists")
                || code == "ResourceExistsException"
                || code.starts_with("Duplicate")
                || code.ends_with(".Duplicate")
        })
    }
}

/// `map_err` adapter: `.map_err(sdk_error("CreateLogGroup"))`.
pub fn sdk_error<E>(operation: &'static str) -> impl Fn(SdkError<E, HttpResponse>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| AwsError::from_sdk(operation, err)
}

/// The idempotency cases every adapter and apply has: a read of something absent is `None`,
/// a delete of something gone or a create of something there is done.
pub trait AwsResultExt<T> {
    /// `Ok(None)` when the resource does not exist.
    fn none_if_not_found(self) -> Result<Option<T>, AwsError>;
    /// Success when the resource is already gone (deletes).
    fn ok_if_not_found(self) -> Result<(), AwsError>;
    /// Success when the resource already exists (creates retried after an interrupted run):
    /// only an "already exists" answer (see [`AwsError::is_already_exists`]), never another
    /// conflict such as "in use" or "operation aborted".
    fn ok_if_conflict(self) -> Result<(), AwsError>;
}

impl<T> AwsResultExt<T> for Result<T, AwsError> {
    fn none_if_not_found(self) -> Result<Option<T>, AwsError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(err) if err.is_not_found() => Ok(None),
            Err(err) => Err(err),
        }
    }

    fn ok_if_not_found(self) -> Result<(), AwsError> {
        self.none_if_not_found().map(|_| ())
    }

    fn ok_if_conflict(self) -> Result<(), AwsError> {
        match self {
            Ok(_) => Ok(()),
            Err(err) if err.is_already_exists() => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// An error and its sources as one line, `outer: inner: innermost`, skipping a source whose
/// text its parent already contains (SDK errors repeat themselves).
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_classify() {
        use ErrorClass::*;
        let cases = [
            ("ResourceNotFoundException", NotFound),
            ("RepositoryNotFoundException", NotFound),
            ("ParameterNotFound", NotFound),
            ("ThrottlingException", Throttled),
            ("RequestLimitExceeded", Throttled),
            ("AccessDeniedException", AccessDenied),
            ("ExpiredToken", AccessDenied),
            ("ResourceAlreadyExistsException", Conflict),
            ("ParameterAlreadyExists", Conflict),
            ("ResourceExistsException", Conflict),
            ("DependencyViolation", Conflict),
            ("RepositoryNotEmptyException", Conflict),
            ("InvalidParameterException", Invalid),
            ("ValidationException", Invalid),
            ("SomethingElse", Sdk),
        ];
        for (code, class) in cases {
            assert_eq!(ErrorClass::classify(Some(code), Some(400)), class, "{code}");
        }
    }

    #[test]
    fn idempotency_helpers() {
        let missing = || Err::<u8, _>(AwsError::new("Get", ErrorClass::NotFound, "gone"));
        let taken = || {
            Err::<u8, _>(AwsError {
                code: Some("ResourceExistsException".into()),
                ..AwsError::new("CreateSecret", ErrorClass::Conflict, "exists")
            })
        };
        let in_use = || {
            Err::<u8, _>(AwsError {
                code: Some("ResourceInUseException".into()),
                ..AwsError::new("CreateThing", ErrorClass::Conflict, "in use")
            })
        };
        let denied = || Err::<u8, _>(AwsError::new("Get", ErrorClass::AccessDenied, "no"));
        assert_eq!(missing().none_if_not_found().unwrap(), None);
        assert_eq!(Ok::<u8, AwsError>(3).none_if_not_found().unwrap(), Some(3));
        assert!(missing().ok_if_not_found().is_ok());
        assert!(taken().ok_if_conflict().is_ok());
        // Another conflict is not "already created".
        assert!(in_use().ok_if_conflict().is_err());
        assert!(taken().ok_if_not_found().is_err());
        assert!(denied().ok_if_conflict().is_err());
    }

    #[test]
    fn status_classifies_when_code_is_unknown() {
        assert_eq!(ErrorClass::classify(None, Some(404)), ErrorClass::NotFound);
        assert_eq!(
            ErrorClass::classify(None, Some(403)),
            ErrorClass::AccessDenied
        );
        assert_eq!(ErrorClass::classify(None, Some(500)), ErrorClass::Sdk);
        assert_eq!(ErrorClass::classify(None, None), ErrorClass::Sdk);
    }
}
