// HTTPCall.swift: one http call as a task asked for it, checked before anything is sent.
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A request with its options (see docs/http.md). Creating one validates the URL and the
/// options, so a malformed call fails at once, without yielding.
struct HTTPCall: Sendable {
    /// The first request (redirects make the next ones).
    let request: HTTPClient.Request
    /// Seconds for the whole call, redirects and body included.
    let timeout: Double
    /// Largest response body accepted, in bytes.
    let maxBody: Int
    /// Redirects followed before the call fails; 0 returns the 3xx response itself.
    let maxRedirects: Int

    /// The method as sent, for messages.
    var method: String { request.method.rawValue }
    /// The URL as given, for messages.
    var url: String { request.url.absoluteString }

    /// Validates and builds the call. `headers` are name/value pairs in order.
    init(
        method: String, url: String, headers: [(String, String)], body: [UInt8]?, timeout: Double, maxBody: Int,
        maxRedirects: Int, caFile: String?, insecure: Bool
    ) throws(HTTPFailure) {
        var parsed = try Self.parse(url, method: method)
        let credentials = Self.credentials(of: parsed)
        if let credentials { parsed = credentials.url }
        let url = parsed.absoluteString  // for messages: without a password
        var tls: TLSConfiguration?
        if caFile != nil || insecure {
            var configuration = TLSConfiguration.makeClientConfiguration()
            if let caFile {
                guard FileManager.default.isReadableFile(atPath: caFile) else {
                    throw HTTPFailure(reason: .options, message: "\(method) \(url): ca_file \"\(caFile)\" cannot be read")
                }
                configuration.additionalTrustRoots = [.file(caFile)]
            }
            if insecure { configuration.certificateVerification = .none }
            tls = configuration
        }
        var fields = HTTPHeaders()
        fields.reserveCapacity(headers.count + 1)
        for (name, value) in headers { fields.add(name: name, value: value) }
        if let credentials, !fields.contains(name: "authorization") {
            fields.add(name: "authorization", value: credentials.authorization)
        }
        do {
            request = try HTTPClient.Request(
                url: parsed, method: HTTPMethod(rawValue: method), headers: fields, body: body.map { .bytes($0) },
                tlsConfiguration: tls)
        } catch {
            throw HTTPFailure(reason: .url, message: "\(method) \(url): malformed URL (\(error))")
        }
        self.timeout = timeout
        self.maxBody = maxBody
        self.maxRedirects = maxRedirects
    }

    /// Parses an absolute http or https URL with a host.
    static func parse(_ text: String, method: String) throws(HTTPFailure) -> URL {
        func malformed(_ why: String) -> HTTPFailure {
            HTTPFailure(reason: .url, message: "\(method) \(text): malformed URL: \(why)")
        }
        guard !text.isEmpty else { throw malformed("the URL is empty") }
        guard let colon = text.firstIndex(of: ":"), text[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || "+-.".contains($0) }),
            text[..<colon].first?.isLetter == true
        else {
            throw malformed("no scheme (write http://\(text.hasPrefix("//") ? text.dropFirst(2) : text[...]) or https://...)")
        }
        let scheme = text[..<colon].lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw HTTPFailure(
                reason: .scheme, message: "\(method) \(text): unsupported scheme \"\(scheme)\" (http speaks http:// and https:// only)")
        }
        guard let url = URL(string: text) else { throw malformed("it is not a valid URL (spaces and some characters must be percent-encoded)") }
        guard let host = url.host, !host.isEmpty else { throw malformed("no host after \(scheme)://") }
        if let port = url.port, !validPorts.contains(port) { throw malformed("port \(port) is out of range (1-65535)") }
        return url
    }

    /// TCP ports a URL may name.
    static let validPorts = 1...65535

    /// A URL's `user:password@`, as the Basic credentials that curl and browsers send, and the
    /// URL without them (so they never show in messages or go further than the header).
    static func credentials(of url: URL) -> (authorization: String, url: URL)? {
        guard let user = url.user(percentEncoded: false), !user.isEmpty || url.password != nil,
            var components = URLComponents(url: url, resolvingAgainstBaseURL: false)
        else { return nil }
        let password = url.password(percentEncoded: false) ?? ""
        components.user = nil
        components.password = nil
        guard let bare = components.url else { return nil }
        return ("Basic " + Data("\(user):\(password)".utf8).base64EncodedString(), bare)
    }
}
