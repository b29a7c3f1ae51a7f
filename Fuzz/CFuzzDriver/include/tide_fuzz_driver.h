/* tide_fuzz_driver.h: libFuzzer's driver, for fuzz targets whose main is Swift's.
 *
 * SwiftPM links an executable with main defined as the module's Swift entry point, so
 * libFuzzer's own main never runs; the Swift top level calls LLVMFuzzerRunDriver instead. */
#ifndef TIDE_FUZZ_DRIVER_H
#define TIDE_FUZZ_DRIVER_H

#include <stddef.h>
#include <stdint.h>

/* Runs libFuzzer with the command line's flags on `callback` (libFuzzer's FuzzerInterface.h). */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
