// What a hand-off between two threads costs on this machine: a one-byte ping-pong over two pipes,
// both sides blocking in read(2), between two threads of one process or two processes, pinned
// to the same CPU (every hand-off is a context switch there) or to two CPUs (every hand-off
// wakes a thread on the other CPU, which is idle, and on a VM that halts idle virtual CPUs,
// halted). Prints nanoseconds per hand-off. Session 16 on a 2-vCPU Firecracker VM: about 2 us on
// one CPU, threads and processes alike; 20-22 us across the two.
//
//   cc -O2 -pthread benches/floor/switch_cost.c -o /tmp/switch_cost && /tmp/switch_cost
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];
static int rounds;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) perror("sched_setaffinity");
}

static void* echo(void* cpu) {
  char c;
  pin(*(int*)cpu);
  for (int i = 0; i < rounds; i++) {
    if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1) exit(1);
  }
  return NULL;
}

// Nanoseconds per hand-off (half a round trip).
static double run(int threads, int other_cpu) {
  char c = 'x';
  pthread_t t;
  pid_t child = 0;
  if (pipe(ping) != 0 || pipe(pong) != 0) exit(1);
  pin(0);
  if (threads) {
    pthread_create(&t, NULL, echo, &other_cpu);
  } else if ((child = fork()) == 0) {
    echo(&other_cpu);
    _exit(0);
  }
  double start = now_ns();
  for (int i = 0; i < rounds; i++) {
    if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1) exit(1);
  }
  double end = now_ns();
  if (threads) {
    pthread_join(t, NULL);
  } else {
    waitpid(child, NULL, 0);
  }
  close(ping[0]), close(ping[1]), close(pong[0]), close(pong[1]);
  return (end - start) / rounds / 2;
}

int main(void) {
  rounds = 100000;
  double st = run(1, 0), sp = run(0, 0);
  printf("one CPU: threads %.0f ns, processes %.0f ns per hand-off\n", st, sp);
  rounds = 20000;
  double xt = run(1, 1), xp = run(0, 1);
  printf("two CPUs: threads %.0f ns, processes %.0f ns per hand-off\n", xt, xp);
  return 0;
}
