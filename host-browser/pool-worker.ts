// Module Web Worker entry of the browser thread pool: exposes the kernel worker API over comlink.
import { expose } from 'comlink';
import { createPoolWorkerApi } from '../runtime/threads/worker-api.js';
import { ready } from './index.js';

expose(createPoolWorkerApi(ready));
