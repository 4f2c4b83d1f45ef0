// A worker busy with a long synchronous job, to watch rr pass it over.
//   GET /block?ms=3000  answers at once, then blocks its event loop for ms (a
//                       report, an image to resize: work that does not yield).
//                       Meanwhile the worker reads nothing, not even the
//                       master's hand-offs.
//   GET /               answers at once
// Each answer names the worker that served it.
//   node dist/master.js examples/stuck.js -w 2 --port 3000 --trace
import http from 'node:http';

const worker = `w${process.env.HANDOFF_WORKER_ID ?? '?'} (pid ${process.pid})`;

http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (url.pathname !== '/block') return res.end(`served by ${worker}\n`);
    const ms = Math.min(Number(url.searchParams.get('ms')) || 3000, 10_000);
    res.end(`served by ${worker}, which now blocks for ${ms} ms\n`, () => {
      // Atomics.wait blocks the thread as a long computation would, without using the CPU.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    });
  })
  .listen(Number(process.env.PORT) || 3000);
