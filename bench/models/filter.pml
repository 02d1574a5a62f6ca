/* Peterson's filter lock for N = 4 or 5 (-DN=5), the twin of bench/models/filter.ts (one statement per
   transition; every statement touches a global, so SPIN merges none).
   spin -a filter.pml && gcc -O2 -DNOREDUCE -DSAFETY -o pan pan.c && ./pan */
#ifndef N
#define N 4
#endif
byte level[N];
byte victim[N];
byte ncs;

#if N == 5
#define BELOW(L) (level[(_pid + 1) % N] < L && level[(_pid + 2) % N] < L && level[(_pid + 3) % N] < L && level[(_pid + 4) % N] < L)
#else
#define BELOW(L) (level[(_pid + 1) % N] < L && level[(_pid + 2) % N] < L && level[(_pid + 3) % N] < L)
#endif

active [N] proctype P() {
  do
  :: level[_pid] = 1;
     victim[1] = _pid;
     (BELOW(1) || victim[1] != _pid);
     level[_pid] = 2;
     victim[2] = _pid;
     (BELOW(2) || victim[2] != _pid);
     level[_pid] = 3;
     victim[3] = _pid;
     (BELOW(3) || victim[3] != _pid);
#if N == 5
     level[_pid] = 4;
     victim[4] = _pid;
     (BELOW(4) || victim[4] != _pid);
#endif
     ncs++;
     ncs--;
     level[_pid] = 0
  od
}
