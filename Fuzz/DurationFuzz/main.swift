// main.swift (DurationFuzz): the command line's parseDuration (--grace-period), under libFuzzer.
//
// Any text either is refused or gives a finite number of seconds within a year, which
// ServeCommand turns into whole milliseconds with Int64(seconds * 1000): that must not trap.

import CFuzzDriver
import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let seconds = parseDuration(text) else { return 0 }
    check(seconds.isFinite && seconds >= 0 && seconds <= 86400 * 365, "parseDuration(\(text.debugDescription)) = \(seconds)")
    _ = Int64(seconds * 1000)
    return 0
}

/// Stops with `message` when `ok` is false. (A failed `precondition` prints no message in a release build.)
func check(_ ok: Bool, _ message: @autoclosure () -> String) {
    if !ok { fatalError(message()) }
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) })
