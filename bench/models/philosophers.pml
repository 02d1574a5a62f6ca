/* Dining philosophers, the twin of bench/models/philosophers.ts (N set by -DN=…, default 10):
   a test-and-set is one d_step. Run pan with -E: the all-left-forks deadlock is expected. */
#ifndef N
#define N 10
#endif
bool fork[N];

active [N] proctype P() {
  do
  :: d_step { fork[_pid] == 0 -> fork[_pid] = 1 };
     d_step { fork[(_pid + 1) % N] == 0 -> fork[(_pid + 1) % N] = 1 };
     fork[_pid] = 0;
     fork[(_pid + 1) % N] = 0
  od
}
