// One worker thread of a parallel search (--workers, see parallel.ts): loads the model file
// itself, builds the same space and Expander as the coordinating thread, and works on each BFS
// level it is sent (level.ts) over the shared store, until it is terminated.
import { parentPort, workerData } from 'node:worker_threads';
import { loadModel } from '../cli/load.ts';
import { CapacityError, errorMessage, ModelError } from '../core/errors.ts';
import { Expander } from './expand.ts';
import { selectProperties } from './explore.ts';
import { LevelWorker, type LevelTask } from './level.ts';
import type { FromWorker, ToWorker, WorkerSetup } from './parallel.ts';
import { SharedStore } from './shared_store.ts';
import { spaceOf } from './space.ts';

const setup = workerData as WorkerSetup;
const port = parentPort!;
const send = (m: FromWorker) => port.postMessage(m);
const failure = (e: unknown): FromWorker => ({
  type: 'error',
  message: errorMessage(e),
  kind: e instanceof ModelError ? 'model' : e instanceof CapacityError ? 'capacity' : 'internal',
});

try {
  const model = await loadModel(setup.file);
  const space = spaceOf(model, setup.params, { symmetry: setup.symmetry, texts: setup.texts });
  const expander = new Expander(space, model, selectProperties(model, setup.properties), { por: setup.por, coverage: setup.coverage, sample: true }, LevelWorker.findings());
  const store = new SharedStore(setup.store);
  const worker = new LevelWorker(expander, store);
  let task: LevelTask | undefined;
  port.on('message', (m: ToWorker) => {
    try {
      if (m.type === 'level') {
        task = m.task;
        store.useTable(task.table);
        send({ type: 'report', report: worker.run(task, []) });
      } else if (m.type === 'rehash') {
        store.rehashInto(m.table, m.part, m.parts);
        store.useTable(m.table);
        send({ type: 'rehashed' });
      } else send({ type: 'report', report: worker.run(task!, m.redo) });
    } catch (e) {
      send(failure(e));
    }
  });
  send({ type: 'ready' });
} catch (e) {
  send(failure(e));
}
