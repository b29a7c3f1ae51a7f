/* tide_sys.c: thin wrappers over timerfd, eventfd and poll. */
#include "tide_sys.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#ifndef TFD_TIMER_CANCEL_ON_SET
#define TFD_TIMER_CANCEL_ON_SET (1 << 1)
#endif

int tide_walltimer_create(void) { return timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK); }

int tide_walltimer_arm(int fd, int64_t sec, int64_t nsec) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    spec.it_value.tv_sec = (time_t)sec;
    spec.it_value.tv_nsec = (long)nsec;
    if (sec == 0 && nsec == 0)
        return timerfd_settime(fd, 0, &spec, NULL);
    /* CANCEL_ON_SET: a discontinuous change of the wall clock (settimeofday, an NTP step) makes
     * the next read fail with ECANCELED, so the scheduler re-plans at once */
    return timerfd_settime(fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &spec, NULL);
}

int tide_walltimer_read(int fd) {
    uint64_t expirations;
    ssize_t n = read(fd, &expirations, sizeof expirations);
    if (n == (ssize_t)sizeof expirations)
        return 1;
    if (n < 0 && errno == ECANCELED)
        return 2;
    return 0;
}

int tide_event_create(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

void tide_event_signal(int fd) {
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n;
}

void tide_event_drain(int fd) {
    uint64_t value;
    ssize_t n = read(fd, &value, sizeof value);
    (void)n;
}

int tide_wait(int timer, int event, int *timer_ready, int *event_ready) {
    struct pollfd fds[2] = { { timer, POLLIN, 0 }, { event, POLLIN, 0 } };
    int n;
    do {
        n = poll(fds, 2, -1);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    *timer_ready = (fds[0].revents & (POLLIN | POLLERR)) != 0;
    *event_ready = (fds[1].revents & POLLIN) != 0;
    return 0;
}
