/* Peterson's filter lock for N = 4, the twin of bench/models/filter.ts (one statement per
   transition; every statement touches a global, so SPIN merges none).
   spin -a filter.pml && gcc -O2 -DNOREDUCE -DSAFETY -o pan pan.c && ./pan */
#define N 4
byte level[N];
byte victim[N];
byte ncs;

#define BELOW(L) (level[(_pid + 1) % N] < L && level[(_pid + 2) % N] < L && level[(_pid + 3) % N] < L)

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
     ncs++;
     ncs--;
     level[_pid] = 0
  od
}
