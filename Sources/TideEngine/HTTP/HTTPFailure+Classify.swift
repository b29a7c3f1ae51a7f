// HTTPFailure+Classify.swift: turns async-http-client's and NIO's errors into clear failures.
import AsyncHTTPClient
import NIOCore
import NIOPosix
import NIOSSL

extension HTTPFailure {
    /// The failure for `error`, raised while `request` (a hop of `call`) was in flight.
    static func classify(_ error: Error, call: HTTPCall, request: HTTPClient.Request) -> HTTPFailure {
        if let failure = error as? HTTPFailure { return failure }
        let what = "\(call.method) \(call.url)"
        let via = request.url.absoluteString == call.url ? "" : " (redirected to \(request.url.absoluteString))"
        let host = request.host, port = request.port
        func make(_ reason: Reason, _ text: String) -> HTTPFailure {
            HTTPFailure(reason: reason, message: "\(what)\(via): \(text)")
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout:
                return HTTPFailure(reason: .timeout, message: "\(what)\(via) timed out after \(formatSeconds(call.timeout))")
            case .connectTimeout, .getConnectionFromPoolTimeout:
                return make(.timeout, "could not connect to \(host):\(port) in time (timed out)")
            case .tlsHandshakeTimeout:
                return make(.timeout, "the TLS handshake with \(host):\(port) timed out")
            case .remoteConnectionClosed:
                return make(.io, "the server closed the connection before the response was complete")
            case .alreadyShutdown, .shutdownUnsupported:
                return make(.shutdown, "tide is shutting down and sends no more requests")
            case .invalidURL, .emptyHost, .emptyScheme:
                return make(.url, "malformed URL (\(error))")
            default:
                return make(.io, "\(error)")
            }
        }
        if let error = error as? NIOConnectionError {
            if error.connectionErrors.isEmpty, error.dnsAError != nil || error.dnsAAAAError != nil {
                return make(.dns, "cannot resolve host \"\(error.host)\" (DNS lookup failed); check the host name")
            }
            return connectFailure(error.connectionErrors.first?.error, host: host, port: port, make)
        }
        if let error = error as? SocketAddressError {
            return make(.dns, "cannot resolve host \"\(host)\" (\(error)); check the host name")
        }
        if error is NIOSSLError || error is NIOSSLExtraError || error is BoringSSLError {
            return make(.tls, tlsMessage(error, host: host))
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return make(.timeout, "could not connect to \(host):\(port) in time (timed out)")
        }
        if let error = error as? IOError {
            return connectFailure(error, host: host, port: port, make)
        }
        return make(.io, "\(error)")
    }

    private static func connectFailure(
        _ error: Error?, host: String, port: Int, _ make: (Reason, String) -> HTTPFailure
    ) -> HTTPFailure {
        guard let error = error as? IOError else {
            return make(.connect, "cannot connect to \(host):\(port)\(error.map { " (\($0))" } ?? "")")
        }
        switch error.errnoCode {
        case ECONNREFUSED:
            return make(.connect, "connection refused by \(host):\(port) (is the server running and listening on that port?)")
        case ECONNRESET, EPIPE:
            return make(.io, "the connection to \(host):\(port) was reset by the server")
        case ENETUNREACH, EHOSTUNREACH:
            return make(.connect, "cannot connect to \(host):\(port): the network or host is unreachable")
        case ETIMEDOUT:
            return make(.timeout, "could not connect to \(host):\(port) in time (timed out)")
        default:
            return make(.connect, "cannot connect to \(host):\(port) (\(error))")
        }
    }

    private static func tlsMessage(_ error: Error, host: String) -> String {
        let text = String(describing: error)
        if let extra = error as? NIOSSLExtraError, extra == .failedToValidateHostname {
            return "TLS failed: the server's certificate is not valid for \"\(host)\""
        }
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "TLS handshake failed: the server's certificate is not trusted (self-signed, expired, or issued by an unknown authority); to trust a private authority pass ca_file = \"/path/to/ca.pem\""
        }
        if text.contains("WRONG_VERSION_NUMBER") {
            return "TLS handshake with \(host) failed: the server did not answer in TLS (is this port plain http?)"
        }
        return "TLS handshake with \(host) failed (\(text))"
    }
}
