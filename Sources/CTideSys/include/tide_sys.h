/* tide_sys.h: Linux system calls Swift's Glibc module does not import (timerfd, eventfd). */
#ifndef TIDE_SYS_H
#define TIDE_SYS_H
#include <stdint.h>

/* A timer on the wall clock (CLOCK_REALTIME) that also reports when the clock is set. -1 on error. */
int tide_walltimer_create(void);
/* Arms the timer for the absolute wall-clock instant sec.nsec (0, 0 disarms it). */
int tide_walltimer_arm(int fd, int64_t sec, int64_t nsec);
/* After the timer's descriptor was readable: 1 it expired, 2 the wall clock was set (a jump), 0 neither. */
int tide_walltimer_read(int fd);

/* An eventfd, for waking a thread blocked in tide_wait. -1 on error. */
int tide_event_create(void);
void tide_event_signal(int fd);
void tide_event_drain(int fd);

/* Blocks until `timer` or `event` is readable; sets the flags of those that are. -1 on error. */
int tide_wait(int timer, int event, int *timer_ready, int *event_ready);

#endif
