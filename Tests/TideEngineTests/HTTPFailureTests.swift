// HTTPFailureTests.swift: http's bad cases, each a clear error naming the URL, none a hang.
import Foundation
import HTTPTestServer
import Testing
import TideEngine
import TideProtocol

@Suite("http failures")
struct HTTPFailureTests {
    @Test("a server that never answers: the timeout option raises a timeout error and closes the connection")
    func serverNeverAnswers() async throws {
        try await withHTTPServer { server in
            let start = ContinuousClock.now
            let o = await runFlow(script("""
                local ok, err = pcall(http.get, "\(server.url("/hang"))", { timeout = "2s" })
                return { code = err.code, reason = err.reason, after = err.after, message = err.message, url = err.url }
                """))
            let took = ContinuousClock.now - start
            #expect(o.value?["code"] == "timeout" && o.value?["reason"] == "timeout", "\(o.errorMessage)")
            #expect(number(o.value?["after"]) == 2)
            #expect(o.value?["message"]?.string == "GET \(server.url("/hang")) timed out after 2s")
            #expect(o.value?["url"]?.string == server.url("/hang"))
            #expect(took < .seconds(20), "took \(took)")  // far below the 30 s default: the option applied
            #expect(await waitUntil(seconds: 15) { server.stats.abandoned("/hang") } != nil, "\(server.stats.summary)")
        }
    }

    @Test("the timeout covers a body that trickles in too")
    func slowBodyTimesOut() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local ok, err = pcall(http.get, "\(server.url("/slow?ms=2000"))", { timeout = 0.2 })
                return err.code
                """))
            #expect(o.value == "timeout", "\(o.errorMessage)")
        }
    }

    @Test("malformed URLs fail at once with reason 'url' or 'scheme' and the URL in the message",
          arguments: [
            ("nonsense", "url", "GET nonsense: malformed URL: no scheme"),
            ("", "url", "GET : malformed URL: the URL is empty"),
            ("http://", "url", "GET http://: malformed URL"),
            ("http://bad host/", "url", "GET http://bad host/: malformed URL"),
            ("ftp://example.com/file", "scheme", "GET ftp://example.com/file: unsupported scheme \"ftp\""),
            ("file:///etc/passwd", "scheme", "GET file:///etc/passwd: unsupported scheme \"file\""),
            ("//example.com/x", "url", "GET //example.com/x: malformed URL: no scheme (write http://example.com/x"),
            // a port NIO cannot represent used to stop the whole process
            ("http://127.0.0.1:99999/", "url", "GET http://127.0.0.1:99999/: malformed URL: port 99999 is out of range (1-65535)"),
            ("http://[::1]:70000/", "url", "GET http://[::1]:70000/: malformed URL: port 70000 is out of range"),
            ("http://localhost:0/", "url", "GET http://localhost:0/: malformed URL: port 0 is out of range"),
          ])
    func malformedURL(url: String, reason: String, prefix: String) async {
        let o = await runFlow(script("""
            local ok, err = pcall(http.get, \(luaString(url)))
            return { code = err.code, reason = err.reason, message = err.message }
            """))
        #expect(o.value?["code"] == "http" && o.value?["reason"] == .string(reason), "\(o.value ?? .null) \(o.errorMessage)")
        #expect(o.value?["message"]?.string?.hasPrefix(prefix) == true, "\(o.value?["message"] ?? .null)")
    }

    @Test("a refused connection fails at once with reason 'connect'")
    func connectionRefused() async throws {
        let port = try await closedPort()
        let start = ContinuousClock.now
        let o = await runFlow(script("""
            local ok, err = pcall(http.get, "http://127.0.0.1:\(port)/x")
            return { code = err.code, reason = err.reason, message = err.message }
            """))
        #expect(o.value?["code"] == "http" && o.value?["reason"] == "connect", "\(o.errorMessage)")
        #expect(o.value?["message"]?.string?.hasPrefix("GET http://127.0.0.1:\(port)/x: connection refused by 127.0.0.1:\(port)") == true,
                "\(o.value?["message"] ?? .null)")
        #expect(ContinuousClock.now - start < .seconds(20))  // not retried until the 30 s deadline
    }

    @Test("a host that does not resolve fails with reason 'dns'")
    func dnsFailure() async {
        let o = await runFlow(script("""
            local ok, err = pcall(http.get, "http://no-such-host.invalid/x")
            return { reason = err.reason, message = err.message }
            """))
        #expect(o.value?["reason"] == "dns", "\(o.value ?? .null) \(o.errorMessage)")
        #expect(o.value?["message"]?.string?.contains("cannot resolve host \"no-such-host.invalid\"") == true)
    }

    @Test("an untrusted (self-signed) certificate fails the TLS handshake clearly, quickly")
    func untrustedCertificate() async throws {
        try await withHTTPServer(tls: true) { server in
            let start = ContinuousClock.now
            let o = await runFlow(script("""
                local ok, err = pcall(http.get, "\(server.url("/json"))")
                return { code = err.code, reason = err.reason, message = err.message }
                """))
            #expect(o.value?["code"] == "http" && o.value?["reason"] == "tls", "\(o.value ?? .null) \(o.errorMessage)")
            #expect(o.value?["message"]?.string?.hasPrefix("GET \(server.url("/json")): TLS handshake failed: the server's certificate is not trusted") == true,
                    "\(o.value?["message"] ?? .null)")
            #expect(ContinuousClock.now - start < .seconds(20))  // not a hang until the 30 s deadline
        }
    }

    @Test("https works with the certificate trusted through ca_file, or with insecure = true")
    func trustedCertificate() async throws {
        let certificate = try await HTTPTestCertificate.shared()
        try await withHTTPServer(tls: true) { server in
            let o = await runFlow(script("""
                local a = http.get("\(server.url("/json"))", { ca_file = "\(certificate.certificatePath)" })
                local b = http.get("https://localhost:\(server.port)/echo", { ca_file = "\(certificate.certificatePath)" })
                local c = http.post("\(server.url("/echo"))", { x = 1 }, { insecure = true })
                local ok, err = pcall(http.get, "\(server.url("/json"))", { ca_file = "/no/such/ca.pem" })
                return { a = a.json().hello, b = b.json().method, c = c.json().body, missing = err.message }
                """))
            #expect(o.value?["a"] == "world" && o.value?["b"] == "GET" && o.value?["c"] == #"{"x":1}"#, "\(o.errorMessage)")
            #expect(o.value?["missing"]?.string?.contains(#"ca_file "/no/such/ca.pem" cannot be read"#) == true)
        }
    }

    // The default cap (64 MiB) on the same stream is tested end to end, with the peak RSS, in
    // TideCLITests/HTTPExecTests; a smaller cap here keeps this debug-build test light.
    @Test("a 1 GB streamed body stops at max_body, fast: the download is aborted, not finished")
    func gigabyteStreamStopsAtTheCap() async throws {
        try await withHTTPServer { server in
            let start = ContinuousClock.now
            let o = await runFlow(script("""
                local ok, err = pcall(http.get, "\(server.url("/stream?bytes=1073741824"))", { max_body = "4m" })
                return { code = err.code, reason = err.reason, message = err.message }
                """))
            let took = ContinuousClock.now - start
            #expect(o.value?["code"] == "http" && o.value?["reason"] == "too_large", "\(o.errorMessage)")
            #expect(o.value?["message"]?.string == "GET \(server.url("/stream?bytes=1073741824")): the response body passed max_body = 4 MiB; the download was stopped (raise max_body to accept more)")
            #expect(took < .seconds(20), "took \(took)")
            #expect(await waitUntil(seconds: 15) { server.stats.abortedCount("/stream") == 1 } != nil, "\(server.stats.summary)")
            #expect(server.stats.bytesStreamed < 32 << 20, "\(server.stats.summary)")
        }
    }

    @Test("an announced 1 GB body fails before any of it is read; max_body is an option")
    func declaredSizeAndOption() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local ok, err = pcall(http.get, "\(server.url("/declared?bytes=1073741824"))")
                local ok2, err2 = pcall(http.get, "\(server.url("/stream?bytes=2097152"))", { max_body = "1m" })
                local r = http.get("\(server.url("/stream?bytes=2097152"))", { max_body = "4m" })
                local exact = http.get("\(server.url("/declared?bytes=1000"))", { max_body = 1000 })
                return { m1 = err.message, r2 = err2.reason, n = #r.body, exact = #exact.body }
                """))
            #expect(o.value?["m1"]?.string?.contains("(1 GiB announced) is larger than max_body = 64 MiB") == true, "\(o.value ?? .null) \(o.errorMessage)")
            #expect(o.value?["r2"] == "too_large" && o.value?["n"] == 2_097_152 && o.value?["exact"] == 1000)
            #expect(await waitUntil(seconds: 15) { server.stats.abortedCount("/declared") == 1 } != nil, "\(server.stats.summary)")
            // what the socket buffers took before the close (a few MiB on loopback), not the gigabyte
            #expect(server.stats.bytesStreamed < 32 << 20, "streamed \(server.stats.bytesStreamed)")
        }
    }

    @Test("https to a plain-http port says the server did not answer in TLS, not BoringSSL's words")
    func tlsToPlainPort() async throws {
        try await withHTTPServer { server in
            let url = server.url("/json").replacingOccurrences(of: "http://", with: "https://")
            let o = await runFlow(script("""
                local ok, err = pcall(http.get, "\(url)")
                return { reason = err.reason, message = err.message }
                """))
            #expect(o.value?["reason"] == "tls", "\(o.value ?? .null) \(o.errorMessage)")
            #expect(o.value?["message"]?.string?.hasSuffix("the server did not answer in TLS (is this port plain http?)") == true, "\(o.value ?? .null)")
        }
    }

    @Test("a redirect to a port out of range fails the call with reason 'redirects'; the process lives on")
    func redirectToBadPort() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local ok, err = pcall(http.get, "\(server.url("/redirect-to?location=http://127.0.0.1:99999/x"))")
                return { reason = err.reason, message = err.message }
                """))
            #expect(o.value?["reason"] == "redirects", "\(o.value ?? .null) \(o.errorMessage)")
            #expect(o.value?["message"]?.string?.contains("to http://127.0.0.1:99999/x: port 99999 is out of range") == true, "\(o.value ?? .null)")
        }
    }

    @Test("an announcement of 5 GiB within a raised max_body is refused by the announcement, not trapped on")
    func hugeAnnouncement() async throws {
        try await withHTTPServer { server in
            let o = await runFlow(script("""
                local ok, err = pcall(http.get, "\(server.url("/declared?bytes=5368709120"))", { max_body = "4095m" })
                return { reason = err.reason, message = err.message }
                """))
            #expect(o.value?["reason"] == "too_large", "\(o.value ?? .null) \(o.errorMessage)")
        }
    }

    @Test("bad arguments are Lua argument errors", arguments: [
        ("http.get()", "bad argument #1 to 'http.get' (string expected, got no value)"),
        ("http.get(42)", "bad argument #1 to 'http.get' (string expected, got number)"),
        ("http.get('http://x/', { chek = true })", "bad argument #2 to 'http.get' (unknown option 'chek')"),
        ("http.get('http://x/', { timeout = 'soon' })", "bad argument #2 to 'http.get' (option 'timeout': duration expected, got \"soon\")"),
        ("http.get('http://x/', { max_body = -1 })", "bad argument #2 to 'http.get' (option 'max_body': size expected"),
        ("http.get('http://x/', { headers = { ['bad name'] = 'x' } })", "bad argument #2 to 'http.get' (option 'headers': \"bad name\" is not a valid header name)"),
        ("http.get('http://x/', { headers = { a = 'x\\r\\nb: y' } })", "bad argument #2 to 'http.get' (option 'headers': the value of \"a\" must be a string without line breaks)"),
        ("http.post('http://x/', 5)", "bad argument #2 to 'http.post' (string or table expected, got number)"),
        ("http.post('http://x/', { f = print })", "bad argument #3 to 'http.post' (the JSON body cannot be encoded"),
        ("http.request{ url = 'http://x/', body = 'a', json = {} }", "bad argument #1 to 'http.request' (give either 'body' or 'json', not both)"),
        ("http.request{ method = 'GET' }", "bad argument #1 to 'http.request' (option 'url' is required)"),
        ("http.request('http://x/')", "bad argument #1 to 'http.request' (table expected, got string)"),
        ("http.request{ url = 'http://x/', method = 'GE T' }", "bad argument #1 to 'http.request' (option 'method': an HTTP method"),
        // a body is held in one buffer, which holds less than 4 GiB (a larger announcement trapped)
        ("http.get('http://x/', { max_body = '8g' })", "bad argument #2 to 'http.get' (option 'max_body': at most 4095m"),
        // env("TLS_INSECURE") holding "false" must not turn certificate checks off
        ("http.get('https://x/', { insecure = 'no' })", "bad argument #2 to 'http.get' (option 'insecure': boolean expected, got string)"),
        ("http.get('http://x/', { check = 1 })", "bad argument #2 to 'http.get' (option 'check': boolean expected, got number)"),
    ])
    func badArguments(call: String, prefix: String) async {
        let o = await runFlow(script("local ok, err = pcall(function() \(call) end) return err"))
        let message = o.value?.string ?? ""
        #expect(message.contains(prefix), "\(message) \(o.errorMessage)")
    }

    @Test("http outside a running flow is refused with a clear message")
    func atTopLevel() async {
        let o = await runFlow("http.get('http://127.0.0.1:1/')\nflow { name = 't', run = function() end }")
        #expect(o.status == .failed)
        #expect(o.errorMessage.contains("http can only be used while a flow runs"), "\(o.errorMessage)")
    }
}

/// A Lua string literal for `text`.
func luaString(_ text: String) -> String {
    "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
}
