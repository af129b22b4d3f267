// Worker entry of the Node thread pool: exposes the kernel worker API over comlink.
import { parentPort } from 'node:worker_threads';
import { expose } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { createPoolWorkerApi } from '../runtime/threads/worker-api.js';
import { ready } from './index.js';

if (!parentPort) throw new Error('pool-worker must run in a worker_threads Worker');
expose(createPoolWorkerApi(ready), nodeEndpoint(parentPort));
