// HTTPRedirect.swift: where a 3xx response leads, and what the next request carries there.
import Foundation
import NIOHTTP1

/// Redirect rules (RFC 9110 §15.4, as browsers and async-http-client apply them): 301, 302, 303,
/// 307 and 308 with a `Location` are followed; 303 (and 301/302 after a POST) turn into a GET
/// without a body; credentials and cookies are not sent to another origin; https never goes
/// down to http.
enum HTTPRedirect {
    /// The next hop: its URL, method, headers and whether the body is kept.
    struct Hop: Equatable {
        var url: URL
        var method: HTTPMethod
        var headers: HTTPHeaders
        var keepsBody: Bool
    }

    /// Whether `status` is a redirect tide follows (given a `Location`).
    static func isRedirect(_ status: UInt) -> Bool {
        status == 301 || status == 302 || status == 303 || status == 307 || status == 308
    }

    /// The hop after a redirect response, or a failure message when it cannot be followed; nil
    /// when the response is not a redirect (it is then the final response).
    static func next(
        status: UInt, location: String?, from url: URL, method: HTTPMethod, headers: HTTPHeaders
    ) -> Result<Hop, HTTPFailure>? {
        guard isRedirect(status), let location, !location.isEmpty else { return nil }
        guard let target = URL(string: location, relativeTo: url)?.absoluteURL, let scheme = target.scheme?.lowercased(),
            let host = target.host, !host.isEmpty
        else {
            return .failure(HTTPFailure(reason: .redirects, message: "redirected (\(status)) to an invalid location \"\(location)\""))
        }
        guard scheme == "http" || scheme == "https" else {
            return .failure(HTTPFailure(reason: .redirects, message: "redirected (\(status)) to \(location): unsupported scheme \"\(scheme)\""))
        }
        if let port = target.port, !HTTPCall.validPorts.contains(port) {
            return .failure(HTTPFailure(reason: .redirects, message: "redirected (\(status)) to \(location): port \(port) is out of range (1-65535)"))
        }
        if url.scheme?.lowercased() == "https", scheme == "http" {
            return .failure(HTTPFailure(
                reason: .redirects, message: "redirected (\(status)) from https to plain http (\(target.absoluteString)): not followed"))
        }
        let toGet = (status == 303 && method != .HEAD) || ((status == 301 || status == 302) && method == .POST)
        var hop = Hop(url: target, method: toGet ? .GET : method, headers: headers, keepsBody: !toGet)
        if toGet {
            hop.headers.remove(name: "content-length")
            hop.headers.remove(name: "content-type")
            hop.headers.remove(name: "transfer-encoding")
        }
        if !sameOrigin(url, target) {
            for name in ["authorization", "cookie", "proxy-authorization", "origin"] { hop.headers.remove(name: name) }
        }
        return .success(hop)
    }

    /// Scheme, host and port alike (the port defaulted by the scheme).
    static func sameOrigin(_ a: URL, _ b: URL) -> Bool {
        func origin(_ u: URL) -> (String, String, Int) {
            let scheme = u.scheme?.lowercased() ?? ""
            return (scheme, u.host?.lowercased() ?? "", u.port ?? (scheme == "https" ? 443 : 80))
        }
        return origin(a) == origin(b)
    }
}
