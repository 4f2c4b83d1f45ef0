// Broadcast: one worker tells all the others (如何进行广播, from Dong Yuanxin's
// "NodeJS 集群：cluster.js 和 PM2", https://dongyuanxin.github.io/2022-05-07-process-cluster/).
//
//   node dist/master.js examples/broadcast.js -w 2
//   curl -X POST 'localhost:3000/say?text=hello'   -> sent to 1 other worker
//   curl localhost:3000/                           -> each worker shows what it heard
//
// The master relays the message; each worker's onMessage() sees it with the
// sender's worker id. A message is at most 64 KiB of JSON.
import http from 'node:http';
import { broadcast, onMessage, workerInfo } from 'handoff/worker';

const heard = [];
onMessage((data, from) => {
  heard.push({ from, data });
  if (heard.length > 20) heard.shift();
});

http
  .createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    res.setHeader('content-type', 'application/json');
    if (req.method === 'POST' && url.pathname === '/say') {
      broadcast({ text: url.searchParams.get('text') ?? '', at: new Date().toISOString() });
      res.end(JSON.stringify({ sentBy: workerInfo().id }));
      return;
    }
    res.end(JSON.stringify({ worker: workerInfo().id, pid: process.pid, heard }));
  })
  .listen(Number(process.env.PORT) || 3000);
