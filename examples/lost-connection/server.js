// The worker of both versions, node:cluster's (cluster.mjs) and handoff's
// (handoff.mjs): the same unchanged server script under each.
//   GET /freeze?ms=1500  answers, then blocks its event loop for ms (it reads
//                        nothing: no IPC, no socket), then dies by SIGKILL
//   GET /hold?ms=1500    sends the headers at once, the body after ms
//   GET /                answers with its pid
// MAX_CONNECTIONS=1 in the environment sets server.maxConnections.
import http from 'node:http';

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const ms = Math.min(Number(url.searchParams.get('ms')) || 1500, 5000);
  res.setHeader('content-type', 'text/plain');
  if (url.pathname === '/freeze') {
    res.end(`pid ${process.pid} freezes for ${ms} ms, then dies`, () => {
      // A stuck worker: Atomics.wait blocks the thread without using the CPU.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      process.kill(process.pid, 'SIGKILL');
    });
  } else if (url.pathname === '/hold') {
    res.flushHeaders();
    setTimeout(() => res.end(`held ${ms} ms by pid ${process.pid}`), ms);
  } else {
    res.end(`answered by pid ${process.pid}`);
  }
});
if (process.env.MAX_CONNECTIONS) server.maxConnections = Number(process.env.MAX_CONNECTIONS);
server.listen(Number(process.env.PORT) || 0, '127.0.0.1');
