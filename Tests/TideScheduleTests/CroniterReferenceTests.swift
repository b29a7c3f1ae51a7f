// Verification against an outside reference: Python's croniter (scripts/croniter-reference.py).
import Foundation
import Testing

@testable import TideSchedule

@Suite("Verified against croniter")
struct CroniterReferenceTests {
    /// One line of the reference script: an expression, a zone, a start and croniter's next starts.
    struct Reference: Decodable {
        var expr: String
        var zone: String
        var from: Int64
        var starts: [Int64]
    }

    static let packageRoot = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let expressions = 1200
    static let startsPerExpression = 20
    static let zones = ["UTC", "America/New_York", "Europe/Berlin"]

    /// The Python with croniter: $TIDE_CRONITER_PYTHON (set by `make test`), else the venv it made.
    static func python() -> String? {
        if let python = ProcessInfo.processInfo.environment["TIDE_CRONITER_PYTHON"], !python.isEmpty { return python }
        let venv = packageRoot.appending(path: ".venv/bin/python3").path
        return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
    }

    /// True when a UTC-offset change of `zone` lies within three hours of `instant`: there the
    /// daylight-saving rules of tide and croniter are meant to differ (see docs/schedules.md).
    static func nearTransition(_ instant: Int64, _ zone: TimeZone) -> Bool {
        let window: TimeInterval = 3 * 3600
        guard let next = zone.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: Double(instant) - window)) else {
            return false
        }
        return next.timeIntervalSince1970 <= Double(instant) + window
    }

    @Test func nextStartsAgreeWithCroniter() async throws {
        guard let python = Self.python() else {
            Issue.record("croniter is not installed: run `make test` (it creates .venv/ with croniter and sets TIDE_CRONITER_PYTHON)")
            return
        }
        // the reference script runs for seconds: wait for it off the cooperative pool
        let references = try await offPool { try Self.runReference(python: python) }
        try #require(references.count == Self.expressions * Self.zones.count, "the reference script printed \(references.count) lines")

        var mismatches: [String] = []
        var compared = 0
        var fullSequences: [String: Int] = [:]
        for reference in references {
            let timeZone = zone(reference.zone)
            let schedule: Schedule
            do {
                schedule = try Schedule.parse(reference.expr, defaultZone: timeZone)
            } catch {
                mismatches.append("'\(reference.expr)': tide rejects it (\(error)), croniter accepts it")
                continue
            }
            let mine = schedule.starts(after: Date(timeIntervalSince1970: Double(reference.from)), count: reference.starts.count)
                .map { Int64($0.timeIntervalSince1970) }
            var agreed = 0
            for (index, theirs) in reference.starts.enumerated() {
                let ours = index < mine.count ? mine[index] : nil
                // Past a start next to a daylight-saving change the two are meant to part ways.
                if Self.nearTransition(theirs, timeZone) || ours.map({ Self.nearTransition($0, timeZone) }) == true { break }
                guard ours == theirs else {
                    let from = formatISO8601(Date(timeIntervalSince1970: Double(reference.from)), in: timeZone)
                    let show = { (t: Int64?) in t.map { formatISO8601(Date(timeIntervalSince1970: Double($0)), in: timeZone) } ?? "none" }
                    mismatches.append(
                        "'\(reference.expr)' in \(reference.zone) after \(from), start #\(index + 1): tide \(show(ours)), croniter \(show(theirs))")
                    break
                }
                agreed += 1
            }
            compared += agreed
            if agreed == reference.starts.count { fullSequences[reference.zone, default: 0] += 1 }
        }
        let zonesSummary = Self.zones.map { "\($0) \(fullSequences[$0, default: 0])" }.joined(separator: ", ")
        print("croniter reference: \(compared) starts of \(references.count) sequences agree; sequences compared in full: \(zonesSummary)")
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(references.count) sequences differ from croniter; the first:\n\(mismatches.prefix(15).joined(separator: "\n"))")
        // The comparison must cover what the issue asks: 1,000 expressions x 20 starts in each zone.
        for name in Self.zones {
            #expect(fullSequences[name, default: 0] >= 1000,
                    "only \(fullSequences[name, default: 0]) sequences of \(Self.startsPerExpression) starts compared in full in \(name)")
        }
        #expect(compared >= 1000 * Self.startsPerExpression * Self.zones.count, "only \(compared) starts compared")
    }

    /// Runs the reference script (seeded by $TIDE_CRONITER_SEED, to explore beyond the fixed set) and decodes its lines.
    static func runReference(python: String) throws -> [Reference] {
        let process = Process()
        process.executableURL = URL(filePath: python)
        process.arguments = [
            packageRoot.appending(path: "scripts/croniter-reference.py").path,
            "--seed", ProcessInfo.processInfo.environment["TIDE_CRONITER_SEED"] ?? "20260504",
            "--expressions", String(expressions), "--starts", String(startsPerExpression), "--zones", zones.joined(separator: ","),
        ]
        let errors = FileManager.default.temporaryDirectory.appending(path: "croniter-reference-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errors)
        do {
            try process.run()
        } catch {
            Issue.record("could not start \(python) (\(error)): run `make test`, which creates .venv/ with croniter")
            throw error
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            struct ReferenceFailed: Error, CustomStringConvertible { var description: String }
            throw ReferenceFailed(description: "scripts/croniter-reference.py failed (status \(process.terminationStatus)); run `make test` to install croniter:\n\(message)")
        }
        let decoder = JSONDecoder()
        return try data.split(separator: UInt8(ascii: "\n")).map { try decoder.decode(Reference.self, from: Data($0)) }
    }
}
