//! How a failed exchange is classified: an [`ErrorKind`] from an I/O or hyper error.

use crate::model::ErrorKind;

impl ErrorKind {
    /// Classifies an I/O error from connecting.
    pub fn of_connect(e: &std::io::Error) -> ErrorKind {
        // EMFILE (24) and ENFILE (23): out of file descriptors on this machine.
        if matches!(e.raw_os_error(), Some(23 | 24)) {
            return ErrorKind::FdLimit;
        }
        match e.kind() {
            std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
            std::io::ErrorKind::TimedOut => ErrorKind::ConnectTimeout,
            _ => ErrorKind::Connect,
        }
    }

    /// Classifies an error from an exchange by walking its sources.
    pub fn of_error(e: &(dyn std::error::Error + 'static)) -> ErrorKind {
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        let mut fallback = ErrorKind::Other;
        while let Some(err) = cur {
            if let Some(io) = err.downcast_ref::<std::io::Error>() {
                if matches!(io.raw_os_error(), Some(23 | 24)) {
                    return ErrorKind::FdLimit;
                }
                return match io.kind() {
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => ErrorKind::Reset,
                    std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::NotConnected => ErrorKind::Closed,
                    std::io::ErrorKind::ConnectionRefused => ErrorKind::ConnectRefused,
                    std::io::ErrorKind::TimedOut => ErrorKind::Timeout,
                    std::io::ErrorKind::InvalidData => ErrorKind::Tls,
                    _ => ErrorKind::Other,
                };
            }
            if let Some(h) = err.downcast_ref::<hyper::Error>() {
                if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                    fallback = ErrorKind::Closed;
                } else if h.is_parse() || h.is_parse_status() {
                    return ErrorKind::Protocol;
                } else if h.is_body_write_aborted() || h.is_user() {
                    fallback = ErrorKind::Request;
                } else if h.is_timeout() {
                    return ErrorKind::Timeout;
                }
            }
            cur = err.source();
        }
        fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified() {
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(ErrorKind::of_connect(&e), ErrorKind::ConnectRefused);
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(ErrorKind::of_error(&e), ErrorKind::Reset);
        assert_eq!(
            ErrorKind::of_connect(&std::io::Error::from_raw_os_error(24)),
            ErrorKind::FdLimit
        );
        assert!(ErrorKind::FdLimit.is_connect() && !ErrorKind::Timeout.is_connect());
    }
}
