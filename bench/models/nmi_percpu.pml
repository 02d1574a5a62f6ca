/* The twin of bench/models/nmi_percpu.ts (variant checks-lock; -DNOCHECK for no-check):
   a per-CPU counter under a local_lock, with NMIs that check local_lock_is_locked(). Each
   transition of the mc model is one d_step; every d_step of a CPU's task first checks that no
   NMI is running on that CPU. Parameters: -DNCPU=… (default 2) -DROUNDS=… -DNMIS=…. */
#ifndef ROUNDS
#define ROUNDS 3
#endif
#ifndef NMIS
#define NMIS 3
#endif
#ifndef NCPU
#define NCPU 2
#endif

byte pc[NCPU]; byte round[NCPU]; bool locked[NCPU]; byte count[NCPU]; byte tmp[NCPU];
bool innmi[NCPU]; byte nmipc[NCPU]; byte nmis[NCPU]; byte ntmp[NCPU]; byte updates[NCPU];

#define C _pid
active [NCPU] proctype Task() {
end:
  do
  :: d_step { !innmi[C] && pc[C] == 0 && round[C] < ROUNDS -> pc[C] = 1; locked[C] = 1 }
  :: d_step { !innmi[C] && pc[C] == 1 -> pc[C] = 2; tmp[C] = count[C] }
  :: d_step { !innmi[C] && pc[C] == 2 -> pc[C] = 3; count[C] = tmp[C] + 1; tmp[C] = 0 }
  :: d_step { !innmi[C] && pc[C] == 3 -> pc[C] = 0; locked[C] = 0; round[C]++ }
  od
}

#define D (_pid - NCPU)
active [NCPU] proctype Nmi() {
end:
  do
  :: d_step { nmipc[D] == 0 && nmis[D] < NMIS -> nmipc[D] = 1; innmi[D] = 1; nmis[D]++ }
#ifndef NOCHECK
  :: d_step { nmipc[D] == 1 && locked[D] -> nmipc[D] = 0; innmi[D] = 0 }
  :: d_step { nmipc[D] == 1 && !locked[D] -> nmipc[D] = 2; ntmp[D] = count[D] }
#else
  :: d_step { nmipc[D] == 1 -> nmipc[D] = 2; ntmp[D] = count[D] }
#endif
  :: d_step { nmipc[D] == 2 -> nmipc[D] = 0; count[D] = ntmp[D] + 1; ntmp[D] = 0; updates[D]++; innmi[D] = 0 }
  od
}
