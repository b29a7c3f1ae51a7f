// HTTPTests.swift: SPEC §3.5 http against a real server on loopback: methods, headers, JSON, status, redirects.
import Foundation
import HTTPTestServer
import Testing
import TideEngine
import TideProtocol

@Suite("http")
struct HTTPTests {
    @Test("every method reaches the server as itself", arguments: ["get", "post", "put", "patch", "delete", "options"])
    func helperMethods(method: String) async throws {
        try await withHTTPServer { server in
            let call = ["post", "put", "patch"].contains(method)
                ? "http.\(method)('\(server.url("/echo"))', 'x')" : "http.\(method)('\(server.url("/echo"))')"
            let o = await runFlow(script("local r = \(call) return r:json().method"))
            #expect(o.value == .string(method.uppercased()), "\(o.errorMessage)")
        }
    }

    @Test("http.head gets the status and headers, no body; http.request takes any method")
    func headAndCustomMethods() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local h = http.head("\(server.url("/json"))")
                local custom = http.request{ method = "purge", url = "\(server.url("/echo"))" }
                local default = http.request{ url = "\(server.url("/echo"))" }
                return { status = h.status, body = h.body, length = h.headers["content-length"],
                         custom = custom.json().method, default = default.json().method }
                """))
            #expect(o.value == ["status": 200, "body": "", "length": "53", "custom": "PURGE", "default": "GET"], "\(o.errorMessage)")
        }
    }

    @Test("request headers arrive; repeated values, a default user-agent, and overrides")
    func requestHeaders() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local a = http.get("\(server.url("/echo"))", { headers = { ["X-Token"] = "abc", ["X-Many"] = { "1", "2" }, ["X-Num"] = 7 } }).json().headers
                local b = http.get("\(server.url("/echo"))", { headers = { ["User-Agent"] = "mine/1.0" } }).json().headers
                return { token = a["x-token"], many = a["x-many"], num = a["x-num"], ua = a["user-agent"], mine = b["user-agent"] }
                """))
            #expect(o.value == ["token": "abc", "many": "1, 2", "num": "7", "ua": "tide", "mine": "mine/1.0"], "\(o.errorMessage)")
        }
    }

    @Test("user:password in the URL is sent as Basic credentials (as curl does), unless the call sets authorization")
    func credentialsInURL() async throws {
        try await withHTTPServer { server in
            let url = server.url("/echo").replacingOccurrences(of: "http://", with: "http://bob:s%20cret@")
            let o = await runFlow(script("""
                local a = http.get("\(url)").json().headers
                local b = http.get("\(url)", { headers = { Authorization = "Bearer t" } }).json().headers
                local ok, err = pcall(http.get, "\(url.replacingOccurrences(of: "/echo", with: "/hang"))", { timeout = "50ms" })
                return { a = a.authorization, b = b.authorization, message = err.message }
                """))
            // "bob:s cret" in base64
            #expect(o.value?["a"] == "Basic Ym9iOnMgY3JldA==" && o.value?["b"] == "Bearer t", "\(o.value ?? .null) \(o.errorMessage)")
            // the password never shows in messages
            #expect(o.value?["message"]?.string?.contains("cret") == false, "\(o.value ?? .null)")
        }
    }

    @Test("response headers: lower-case names, repeats joined with ', ', every value in header_list")
    func responseHeaders() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local r = http.get("\(server.url("/headers"))")
                local cookies = {}
                for _, h in ipairs(r.header_list) do
                  if h.name == "set-cookie" then cookies[#cookies + 1] = h.value end
                end
                return { multi = r.headers["x-multi"], mixed = r.headers["x-mixed-case"], upper = r.headers["X-Mixed-Case"] or "absent",
                         cookie = r.headers["set-cookie"], cookies = cookies }
                """))
            #expect(o.value == [
                "multi": "one, two", "mixed": "yes", "upper": "absent", "cookie": "a=1; Path=/, b=2", "cookies": ["a=1; Path=/", "b=2"],
            ], "\(o.errorMessage)")
        }
    }

    @Test("a table body and json= are sent as JSON with content-type application/json; a string body as it is")
    func jsonRequestBodies() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local url = "\(server.url("/echo"))"
                local a = http.post(url, { name = "ada", tags = { "x", "y" } }).json()
                local b = http.request{ method = "PUT", url = url, json = { 1, 2, 3 } }.json()
                local c = http.post(url, "plain text", { headers = { ["content-type"] = "text/plain" } }).json()
                local d = http.patch(url, { n = 1 }, { headers = { ["Content-Type"] = "application/merge-patch+json" } }).json()
                return { a = json.decode(a.body), at = a.headers["content-type"], b = b.body, bt = b.headers["content-type"],
                         c = c.body, ct = c.headers["content-type"], dt = d.headers["content-type"] }
                """))
            #expect(o.value == [
                "a": ["name": "ada", "tags": ["x", "y"]], "at": "application/json", "b": "[1,2,3]", "bt": "application/json",
                "c": "plain text", "ct": "text/plain", "dt": "application/merge-patch+json",
            ], "\(o.errorMessage)")
        }
    }

    @Test("json() decodes the response body, called as r.json() or r:json(); the response encodes as JSON")
    func jsonResponses() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local r = http.get("\(server.url("/json"))")
                local doc = json.decode(json.encode(r))
                return { dot = r.json(), colon = r:json().nested.ok, status = doc.status, ok = doc.ok, body = doc.body == r.body }
                """))
            #expect(o.value == [
                "dot": ["hello": "world", "list": [1, 2, 3], "nested": ["ok": true]], "colon": true, "status": 200, "ok": true, "body": true,
            ], "\(o.errorMessage)")
        }
    }

    @Test("json() on a body that is not JSON raises a clear error naming the URL")
    func invalidJSON() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local r = http.get("\(server.url("/not-json"))")
                local ok, err = pcall(r.json)
                return err
                """))
            let message = o.value?.string ?? ""
            #expect(message.contains("\(server.url("/not-json")) is not valid JSON"), "\(message)")
            #expect(message.contains("<html>oops"), "\(message)")
        }
    }

    @Test("a non-2xx status is a response, not an error, unless check = true")
    func statusAndCheck() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local r = http.get("\(server.url("/status/404"))")
                local ok, err = pcall(http.get, "\(server.url("/status/503"))", { check = true })
                local fine = http.get("\(server.url("/status/204"))", { check = true })
                return { status = r.status, ok = r.ok, body = r.body, code = err.code, reason = err.reason, estatus = err.status,
                         ebody = err.body, message = err.message, fine = fine.status }
                """))
            #expect(o.value?["status"] == 404 && o.value?["ok"] == false && o.value?["body"] == "status 404", "\(o.errorMessage)")
            #expect(o.value?["code"] == "http" && o.value?["reason"] == "status" && o.value?["estatus"] == 503)
            #expect(o.value?["ebody"] == "status 503" && o.value?["fine"] == 204)
            #expect(o.value?["message"]?.string == "GET \(server.url("/status/503")) returned status 503: status 503")
        }
    }

    @Test("an uncaught check failure fails the run with the http error")
    func checkFailsTheRun() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("http.get('\(server.url("/status/500"))', { check = true })"))
            #expect(o.status == .failed && o.errorCode == "http")
            #expect(o.errorValue?["status"] == 500)
        }
    }
}

@Suite("http redirects")
struct HTTPRedirectFollowingTests {
    @Test("redirects are followed (up to 10 by default); url is where the response came from")
    func followed() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local r = http.get("\(server.url("/redirect/10"))")
                return { body = r.body, url = r.url }
                """))
            #expect(o.value == ["body": "landed", "url": .string(server.url("/redirect/0"))], "\(o.errorMessage)")
            #expect(server.stats.requests == 11)
        }
    }

    @Test("past the limit the call fails with reason 'redirects'; the limit is an option")
    func limit() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local ok1, e1 = pcall(http.get, "\(server.url("/redirect/11"))")
                local ok2, e2 = pcall(http.get, "\(server.url("/redirect/3"))", { follow_redirects = 2 })
                local r3 = http.get("\(server.url("/redirect/3"))", { follow_redirects = 3 })
                local ok4, e4 = pcall(http.get, "\(server.url("/loop"))")
                return { e1 = e1.reason, m1 = e1.message, e2 = e2.reason, r3 = r3.body, e4 = e4.code }
                """))
            #expect(o.value?["e1"] == "redirects" && o.value?["e2"] == "redirects" && o.value?["r3"] == "landed", "\(o.errorMessage)")
            #expect(o.value?["e4"] == "http")
            #expect(o.value?["m1"]?.string?.hasPrefix("GET \(server.url("/redirect/11")): too many redirects (more than 10") == true,
                    "\(o.value?["m1"] ?? .null)")
        }
    }

    @Test("follow_redirects = false returns the redirect itself")
    func notFollowed() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local r = http.get("\(server.url("/redirect/2"))", { follow_redirects = false })
                return { status = r.status, location = r.headers.location }
                """))
            #expect(o.value == ["status": 302, "location": "/redirect/1"], "\(o.errorMessage)")
        }
    }

    @Test("303 turns a POST into a GET without body; 307 keeps the method and the body")
    func methodRewrites() async throws {
        try await withHTTPServer { server in
            let see = server.url("/redirect-to?status=303&location=/echo")
            let temporary = server.url("/redirect-to?status=307&location=/echo")
            let o = await runFlow(script("""
                local a = http.post("\(see)", { x = 1 }).json()
                local b = http.post("\(temporary)", { x = 1 }).json()
                return { am = a.method, ab = a.body, at = a.headers["content-type"] or "none", bm = b.method, bb = b.body }
                """))
            #expect(o.value == ["am": "GET", "ab": "", "at": "none", "bm": "POST", "bb": #"{"x":1}"#], "\(o.errorMessage)")
        }
    }

    @Test("credentials are not sent to another origin")
    func crossOriginDropsAuthorization() async throws {
        try await withHTTPServer { first in
            try await withHTTPServer { second in
                let hop = first.url("/redirect-to?status=302&location=\(second.url("/echo").addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
                let o = await runFlow(script("""
                    local r = http.get("\(hop)", { headers = { Authorization = "Bearer secret", ["X-Keep"] = "1" } }).json()
                    return { auth = r.headers.authorization or "none", keep = r.headers["x-keep"] }
                    """))
                #expect(o.value == ["auth": "none", "keep": "1"], "\(o.errorMessage)")
            }
        }
    }
}
