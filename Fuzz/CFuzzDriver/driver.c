/* driver.c: nothing to compile; the target exists for tide_fuzz_driver.h (libFuzzer defines the function). */
#include "tide_fuzz_driver.h"
