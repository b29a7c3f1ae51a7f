// Scheduler+HTTP.swift: the http host function: records the call, yields, resumes with its outcome.
import LuaBridge
import NIOCore

extension Scheduler {
    /// http(method, url, headers, body, timeout, max_body, max_redirects, ca_file, insecure), with
    /// headers as "name\0value\0..." pairs; resumes with status, headers (same encoding, names in
    /// lower case), body, final URL — or, when there is no response, nil, nil, nil, nil, reason,
    /// message. A call that is invalid as given returns the failure at once, without yielding.
    func http(_ frame: LuaFrame, _ slot: Int32, resumed: Bool, _ out: inout LuaReturn) -> LuaAction {
        if resumed {
            tasks[Int(slot)].wait = .none
            guard let outcome = httpOutcomes.removeValue(forKey: slot) else { return failure(&out, "the http request vanished") }
            push(outcome, &out)
            return .return
        }
        guard let http else { return failure(&out, "http is not available in this context") }
        guard let method = frame.string(1), let url = frame.string(2) else { return failure(&out, "http: bad call") }
        var headers: [(String, String)] = []
        if let encoded = frame.bytes(3) {
            var fields = encoded.split(separator: 0, omittingEmptySubsequences: false).makeIterator()
            while let name = fields.next(), let value = fields.next() {
                headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
            }
        }
        let call: HTTPCall
        do {
            call = try HTTPCall(
                method: method, url: url, headers: headers, body: frame.bytes(4), timeout: frame.number(5) ?? 30,
                maxBody: Int(frame.integer(6) ?? 64 << 20), maxRedirects: Int(frame.integer(7) ?? 10), caFile: frame.string(8),
                insecure: frame.bool(9))
        } catch {
            push(.failure(error), &out)
            return .return
        }
        http.launch(call, id: park(slot, on: TaskWait.http))
        return .yield
    }

    /// Delivers the outcome of an http call that arrived through the mailbox.
    func httpFinished(id: Int, outcome: HTTPOutcome) {
        guard let owner = processes.removeValue(forKey: id) else { return }
        let slot = owner.slot
        guard tasks[Int(slot)].generation == owner.generation, tasks[Int(slot)].state == .waiting, tasks[Int(slot)].io == id
        else { return }
        httpOutcomes[slot] = outcome
        tasks[Int(slot)].io = 0
        makeReady(slot, .io)
    }

    private func push(_ outcome: HTTPOutcome, _ out: inout LuaReturn) {
        switch outcome {
        case .success(let response):
            out.push(Int64(response.status))
            var encoded: [UInt8] = []
            encoded.reserveCapacity(response.headers.count * 32)
            for (name, value) in response.headers {
                for byte in name.utf8 { encoded.append(byte >= 65 && byte <= 90 ? byte + 32 : byte) }
                encoded.append(0)
                encoded.append(contentsOf: value.utf8.lazy.map { $0 == 0 ? 32 : $0 })
                encoded.append(0)
            }
            out.push(bytes: encoded)
            response.body.withUnsafeReadableBytes { out.push(bytes: $0) }
            out.push(response.url)
        case .failure(let failure):
            out.pushNil()
            out.pushNil()
            out.pushNil()
            out.pushNil()
            out.push(failure.reason.rawValue)
            out.push(failure.message)
        }
    }
}
