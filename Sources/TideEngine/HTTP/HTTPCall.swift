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
        let parsed = try Self.parse(url, method: method)
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
        return url
    }
}
