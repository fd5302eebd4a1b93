// The floor under every host call on this machine: one 64-byte message and its answer over a
// Unix socket between two processes, with both sides blocking in read(2), or with the asking
// side spinning (non-blocking reads and sched_yield, as an isolate thread does for its host
// call's reply, see worker/src/pace.rs). On a VM that halts idle virtual CPUs the blocking
// figure is mostly the wake-ups.
//
//   cc -O2 benches/floor/unix_pingpong.c -o /tmp/pingpong && /tmp/pingpong 0 && /tmp/pingpong 1
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

int main(int argc, char** argv) {
  const int spin = argc > 1 ? atoi(argv[1]) : 0;
  const int rounds = 20000;
  int sv[2];
  char buf[64] = {0};
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 1;
  if (fork() == 0) {
    for (int i = 0; i < rounds; i++) {
      if (read(sv[1], buf, sizeof buf) <= 0 || write(sv[1], buf, sizeof buf) <= 0) _exit(1);
    }
    _exit(0);
  }
  if (spin) fcntl(sv[0], F_SETFL, O_NONBLOCK);
  const double start = now_us();
  for (int i = 0; i < rounds; i++) {
    if (write(sv[0], buf, sizeof buf) <= 0) return 1;
    if (spin) {
      while (read(sv[0], buf, sizeof buf) < 0) sched_yield();
    } else if (read(sv[0], buf, sizeof buf) <= 0) {
      return 1;
    }
  }
  printf("%s: %.1f us per round trip\n", spin ? "asker spins" : "both block",
         (now_us() - start) / rounds);
  return 0;
}
