// main.swift: the local HTTP server of scripts/bench-http: prints its port, serves until killed.
import Foundation
import HTTPTestServer

let threads = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 1
let server = try await HTTPTestServer.start(threads: threads)
FileHandle.standardOutput.write(Data("port \(server.port)\n".utf8))
await server.wait()
