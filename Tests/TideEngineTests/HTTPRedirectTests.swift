// HTTPRedirectTests.swift: the redirect rules and the call's lifecycle, as values (no I/O).
import Foundation
import NIOHTTP1
import Testing
@testable import TideEngine

@Suite("http redirect rules")
struct HTTPRedirectTests {
    private let origin = URL(string: "https://api.example.com/v1/items")!

    @Test("method and body after each redirect status", arguments: [
        (301, HTTPMethod.POST, HTTPMethod.GET, false), (302, .POST, .GET, false), (303, .POST, .GET, false),
        (303, .PUT, .GET, false), (303, .HEAD, .HEAD, true), (307, .POST, .POST, true), (308, .PUT, .PUT, true),
        (301, .GET, .GET, true), (302, .DELETE, .DELETE, true),
    ])
    func methods(status: UInt, method: HTTPMethod, next: HTTPMethod, keepsBody: Bool) throws {
        let hop = try #require(HTTPRedirect.next(status: status, location: "/other", from: origin, method: method, headers: [:])).get()
        #expect(hop.method == next && hop.keepsBody == keepsBody)
        #expect(hop.url.absoluteString == "https://api.example.com/other")
    }

    @Test("not redirects: other statuses, or no Location", arguments: [(200, "/x"), (304, "/x"), (305, "/x"), (300, "/x"), (302, "")])
    func notRedirects(status: UInt, location: String) {
        #expect(HTTPRedirect.next(status: status, location: location.isEmpty ? nil : location, from: origin, method: .GET, headers: [:]) == nil)
    }

    @Test("relative locations resolve against the current URL")
    func relative() throws {
        let hop = try #require(HTTPRedirect.next(status: 302, location: "next?page=2", from: origin, method: .GET, headers: [:])).get()
        #expect(hop.url.absoluteString == "https://api.example.com/v1/next?page=2")
    }

    @Test("credentials stay on their origin; a GET made from a POST loses its content headers")
    func headers() throws {
        let headers: HTTPHeaders = [
            "Authorization": "Bearer x", "Cookie": "a=1", "X-Keep": "1", "Content-Type": "application/json", "Content-Length": "2",
        ]
        let same = try #require(HTTPRedirect.next(status: 307, location: "/b", from: origin, method: .POST, headers: headers)).get()
        #expect(same.headers["authorization"] == ["Bearer x"] && same.headers["content-type"] == ["application/json"])
        let other = try #require(HTTPRedirect.next(
            status: 303, location: "https://elsewhere.example.com/", from: origin, method: .POST, headers: headers)).get()
        #expect(other.headers["authorization"].isEmpty && other.headers["cookie"].isEmpty && other.headers["x-keep"] == ["1"])
        #expect(other.headers["content-type"].isEmpty && other.headers["content-length"].isEmpty)
        let port = try #require(HTTPRedirect.next(status: 302, location: "https://api.example.com:8443/", from: origin, method: .GET, headers: headers)).get()
        #expect(port.headers["authorization"].isEmpty)
    }

    @Test("https never goes down to http; other schemes and ports out of range are refused",
          arguments: ["http://api.example.com/", "ftp://api.example.com/", "file:///etc/passwd", "https://api.example.com:99999/", "https://[::1]:70000/"])
    func refused(location: String) {
        guard case .failure(let failure)? = HTTPRedirect.next(status: 302, location: location, from: origin, method: .GET, headers: [:]) else {
            Issue.record("\(location) was followed")
            return
        }
        #expect(failure.reason == .redirects)
    }
}

@Suite("http call lifecycle")
struct HTTPExchangeStateTests {
    @Test("redirects are followed up to the limit, then the call fails")
    func limit() {
        var state = HTTPExchangeState(maxRedirects: 2)
        #expect(state.received(redirect: true) == .follow)
        #expect(state.received(redirect: true) == .follow)
        #expect(state.received(redirect: true) == .tooManyRedirects)
        #expect(state.state == .finished)
    }

    @Test("with no redirects allowed, a redirect is the response")
    func noFollowing() {
        var state = HTTPExchangeState(maxRedirects: 0)
        #expect(state.received(redirect: true) == .deliver)
    }

    @Test("after a cancel nothing is delivered, and a second cancel aborts nothing")
    func cancel() {
        var state = HTTPExchangeState(maxRedirects: 10)
        #expect(state.received(redirect: true) == .follow)
        let aborts = state.cancel()
        #expect(aborts && state.isCancelled)
        #expect(state.received(redirect: false) == .drop)
        let delivers = state.failed(), abortsAgain = state.cancel()
        #expect(!delivers && !abortsAgain)
    }

    @Test("a cancel after the outcome was delivered does nothing")
    func cancelAfterFinish() {
        var state = HTTPExchangeState(maxRedirects: 10)
        #expect(state.received(redirect: false) == .deliver)
        let aborts = state.cancel()
        #expect(!aborts && state.state == .finished)
    }
}
