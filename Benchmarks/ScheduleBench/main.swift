// tide-bench-schedule: times successive next starts of schedules, for scripts/bench-schedule.
//
// Reads a JSON array of {"expr", "zone", "from", "count", "restart"} from standard input; for
// each, parses the schedule and computes `count` successive next starts from `from`, starting
// over from `from` every `restart` starts. Only the parsing and computing is timed, not the
// process start nor the output. Prints one JSON object:
//   {"rounds": [seconds per round], "expressions": [{"expr", "seconds": [per round], "starts": [epoch seconds]}]}
import Foundation
import TideSchedule

struct Job: Decodable {
    var expr: String
    var zone: String
    var from: Double
    var count: Int
    var restart: Int
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("tide-bench-schedule: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments.dropFirst()
let rounds = arguments.first.flatMap { Int($0) } ?? 3
let input = FileHandle.standardInput.readDataToEndOfFile()
guard let jobs = try? JSONDecoder().decode([Job].self, from: input) else { fail("expected a JSON array of jobs on stdin") }

let clock = ContinuousClock()
var roundSeconds: [Double] = []
var jobSeconds = [[Double]](repeating: [], count: jobs.count)
var jobStarts = [[Double]](repeating: [], count: jobs.count)
for round in 0..<rounds {
    var total = Duration.zero
    for (index, job) in jobs.enumerated() {
        guard let zone = TimeZone(identifier: job.zone) else { fail("unknown zone \(job.zone)") }
        var starts: [Date] = []
        starts.reserveCapacity(job.count)
        let elapsed = clock.measure {
            let schedule: Schedule
            do { schedule = try Schedule.parse(job.expr, defaultZone: zone) } catch { fail("\(job.expr): \(error)") }
            let from = Date(timeIntervalSince1970: job.from)
            var cursor = from
            while starts.count < job.count {
                if starts.count % job.restart == 0 { cursor = from }
                guard let next = schedule.next(after: cursor) else { break }
                starts.append(next)
                cursor = next
            }
        }
        total += elapsed
        jobSeconds[index].append(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        if round == 0 { jobStarts[index] = starts.map(\.timeIntervalSince1970) }
    }
    roundSeconds.append(Double(total.components.seconds) + Double(total.components.attoseconds) / 1e18)
}
let report: [String: Any] = [
    "rounds": roundSeconds,
    "expressions": jobs.indices.map { ["expr": jobs[$0].expr, "seconds": jobSeconds[$0], "starts": jobStarts[$0]] as [String: Any] },
]
guard let data = try? JSONSerialization.data(withJSONObject: report) else { fail("could not encode the report") }
FileHandle.standardOutput.write(data)
FileHandle.standardOutput.write(Data("\n".utf8))
