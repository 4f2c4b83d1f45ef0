// The shared-state example (如何实现状态共享) of Dong Yuanxin's "NodeJS 集群：cluster.js
// 和 PM2" (https://dongyuanxin.github.io/2022-05-07-process-cluster/): a visit counter kept by
// the master, reported by the workers on each request, and sent back to all.
//
//   node dist/master.js examples/visit-counter.js
//   curl localhost:3000/        -> visit total times is 1 (served by pid ...)
//   curl localhost:3000/count   -> {"visits":1,"pid":...}
//
// incrementState() is applied by the master, one message at a time, so many
// workers counting at once lose nothing; each worker's view (getState()) is
// updated a moment later, like visitTotal in the article.
import http from 'node:http';
import { getState, incrementState } from 'handoff/worker';

http
  .createServer((req, res) => {
    if (req.url === '/count') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ visits: getState().visits ?? 0, pid: process.pid }));
      return;
    }
    incrementState('visits');
    res.end(`visit total times is ${(getState().visits ?? 0) + 1} (served by pid ${process.pid})\n`);
  })
  .listen(Number(process.env.PORT) || 3000);
